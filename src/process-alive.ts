/** Whether process `pid` exists on this host: signal 0 tests without signalling (EPERM: it exists, not ours). */
export const processAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
};
