import { HeadBucketCommand, type S3Client } from '@aws-sdk/client-s3';

/**
 * The region a bucket lives in, from HeadBucket: S3 names it in the x-amz-bucket-region header, on a 403
 * (a public bucket the caller may not list) as on a 200. Undefined when the store says nothing (an
 * S3-compatible server may not).
 */
export async function bucketRegion(client: S3Client, bucket: string): Promise<string | undefined> {
  try {
    const head = await client.send(new HeadBucketCommand({ Bucket: bucket }));
    return head.BucketRegion ?? undefined;
  } catch (error) {
    const headers = (error as { $response?: { headers?: Record<string, string> } }).$response?.headers ?? {};
    const region = headers['x-amz-bucket-region'];
    if (region) return region;
    throw error;
  }
}
