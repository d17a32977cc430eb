// Connecting to the Redis of a distributed run. ioredis retries a refused connection for ever
// (and BullMQ waits on it for ever), printing each failure: `cellar run --executor bullmq` and
// `cellar worker` given a Redis that is not there hung, with hundreds of stack traces. So each
// first asks once, on a connection of its own that never retries, and stops with one line.
import { Redis } from 'ioredis';
import { CellarError } from '../errors.js';

/** How long the first PING may take before the Redis counts as unreachable (ms). */
export const REDIS_PROBE_MS = 5_000;

/**
 * Resolves once the Redis at `url` answers a PING; else throws CellarError E_REDIS_UNREACHABLE
 * naming the URL and the reason (ECONNREFUSED, ENOTFOUND, no answer in 5 s, a refused password),
 * within `timeoutMs`.
 */
export async function checkRedisReachable(
  url: string,
  timeoutMs: number = REDIS_PROBE_MS,
): Promise<void> {
  const probe = new Redis(url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    retryStrategy: () => null,
    reconnectOnError: () => false,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
  });
  let seen: Error | undefined;
  // Without a listener ioredis prints every failure as "[ioredis] Unhandled error event".
  probe.on('error', (error: Error) => (seen ??= error));
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      probe.connect().then(() => probe.ping()),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no answer in ${timeoutMs / 1000} s`)),
          timeoutMs,
        );
      }),
    ]);
  } catch (error) {
    const cause = seen ?? (error as Error);
    const code = (cause as NodeJS.ErrnoException).code;
    const reason = typeof code === 'string' && code ? code : cause.message.split('\n')[0];
    throw new CellarError(
      `cannot reach Redis at ${url} (${reason}): start redis-server or give --redis`,
      'E_REDIS_UNREACHABLE',
    );
  } finally {
    clearTimeout(timer);
    // Not on a connection already closed: ioredis would then wait 2 s for a close that came.
    if (probe.status !== 'end') probe.disconnect();
  }
}
