import type { Redis } from 'ioredis';

/**
 * Wakes {@link RedisBackend.changed} waiters: one SUBSCRIBE connection per
 * backend, opened on the first wait, on the channel that conditional writes
 * publish their condition key on. Its socket never keeps the process alive
 * (a waiter's own timer does, while it waits).
 *
 * A publish sent while the subscription is not live (before it first is, or
 * across a reconnect) is lost, so becoming live wakes every waiter: they
 * re-check, as after any wake-up ("may have changed").
 */
export class ChangeNotifier {
  readonly #open: () => Redis;
  readonly #channel: Buffer;
  readonly #waiters = new Map<string, Set<() => void>>();
  #subscriber: Redis | undefined;

  constructor(open: () => Redis, channel: Buffer) {
    this.#open = open;
    this.#channel = channel;
  }

  /** Resolves when `key` is published, when the subscription (re)becomes live, or after `timeoutMs`. */
  wait(key: Uint8Array, timeoutMs: number): Promise<void> {
    const id = Buffer.from(key).toString('latin1');
    return new Promise((resolve) => {
      let waiters = this.#waiters.get(id);
      if (waiters === undefined) this.#waiters.set(id, (waiters = new Set()));
      const set = waiters;
      const done = (): void => {
        clearTimeout(timer);
        set.delete(done);
        if (set.size === 0 && this.#waiters.get(id) === set) this.#waiters.delete(id);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      set.add(done);
      this.#subscribe();
    });
  }

  /** Wakes every waiter and drops the connection. */
  close(): void {
    this.#wakeAll();
    this.#subscriber?.disconnect();
    this.#subscriber = undefined;
  }

  #subscribe(): void {
    if (this.#subscriber !== undefined) return;
    const subscriber = this.#open();
    this.#subscriber = subscriber;
    const unref = (): void => (subscriber.stream as { unref?: () => void } | undefined)?.unref?.();
    subscriber.on('connect', unref);
    subscriber.on('error', () => undefined);
    subscriber.on('messageBuffer', (channel: Buffer, message: Buffer) => {
      if (!channel.equals(this.#channel)) return;
      for (const done of [...(this.#waiters.get(message.toString('latin1')) ?? [])]) done();
    });
    // ioredis subscribes again after a reconnect, then says 'ready': anything published in between was missed.
    subscriber.on('ready', () => {
      unref();
      // The first 'ready' comes before the SUBSCRIBE below is answered; the wake-up after it covers that one.
      if (live) this.#wakeAll();
    });
    let live = false;
    subscriber
      .connect()
      .then(() => subscriber.subscribe(this.#channel))
      .then(
        () => {
          live = true;
          this.#wakeAll();
        },
        () => {
          // Not reachable now: waiters time out, and the next wait tries again.
          if (this.#subscriber === subscriber) this.#subscriber = undefined;
          subscriber.disconnect();
        },
      );
  }

  #wakeAll(): void {
    for (const set of [...this.#waiters.values()]) for (const done of [...set]) done();
  }
}
