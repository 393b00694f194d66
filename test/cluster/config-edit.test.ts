import { describe, expect, it } from 'vitest';
import { setIniValues } from '../../src/cluster/config-edit.js';

describe('setIniValues', () => {
  const text = ['# top comment', '[CLUSTER]', 'HOST = 127.0.0.1', '; why the port', 'DB_PORT=5432', 'SSL = auto', '', '[S3]', 'REGION = us-west-2', ''].join('\n');

  it('replaces values on their own lines and keeps comments, order and other keys', () => {
    expect(setIniValues(text, { CLUSTER: { HOST: 'c.example.com', DB_PORT: '5439' } })).toBe(
      ['# top comment', '[CLUSTER]', 'HOST = c.example.com', '; why the port', 'DB_PORT= 5439', 'SSL = auto', '', '[S3]', 'REGION = us-west-2', ''].join('\n'),
    );
  });

  it('adds a missing key after the last setting of its section, and a missing section at the end', () => {
    expect(setIniValues(text, { CLUSTER: { DB_USER: 'dwhuser' }, IAM_ROLE: { ARN: 'arn:aws:iam::1:role/r' } })).toBe(
      ['# top comment', '[CLUSTER]', 'HOST = 127.0.0.1', '; why the port', 'DB_PORT=5432', 'SSL = auto', 'DB_USER = dwhuser', '', '[S3]', 'REGION = us-west-2', '', '[IAM_ROLE]', 'ARN = arn:aws:iam::1:role/r', ''].join('\n'),
    );
  });

  it('does not take a key of another section, quotes ; and #, keeps CRLF', () => {
    const crlf = '[S3]\r\nHOST = x\r\n[CLUSTER]\r\nHOST = y\r\n';
    expect(setIniValues(crlf, { CLUSTER: { HOST: 'a;b' } })).toBe('[S3]\r\nHOST = x\r\n[CLUSTER]\r\nHOST = "a;b"\r\n');
    expect(setIniValues('', { CLUSTER: { HOST: 'h' } })).toBe('[CLUSTER]\nHOST = h\n');
  });
});
