// Knowing when Ink has drawn: its writes to the terminal, watched through the stream it is given.

/** Counts what was written so far, and resolves once something is written after a count taken earlier. */
export interface Frames {
  written(): number;
  after(count: number): Promise<void>;
}

/** Longest wait for a frame: Ink draws at least this often while a command runs (the spinner turns every 100 ms). */
const FRAME_WAIT_CAP_MS = 250;

/**
 * `stream`, as Ink sees it (the same object underneath: size, resize events, isTTY), with every write counted. A frame
 * is several writes in one go: a wait ends after the whole of it, as its other writes follow in the same turn.
 */
export function watchFrames(stream: NodeJS.WriteStream): { stream: NodeJS.WriteStream; frames: Frames } {
  let count = 0;
  let waiting: { after: number; wake: () => void }[] = [];
  const watched = new Proxy(stream, {
    get(target, property) {
      if (property === 'write') {
        return (...args: Parameters<NodeJS.WriteStream['write']>) => {
          count++;
          const due = waiting.filter((w) => count > w.after);
          if (due.length > 0) {
            waiting = waiting.filter((w) => count <= w.after);
            queueMicrotask(() => due.forEach((w) => w.wake()));
          }
          return target.write(...args);
        };
      }
      const value = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  const frames: Frames = {
    written: () => count,
    after(after) {
      if (count > after) return Promise.resolve();
      return new Promise((resolve) => {
        const timer = setTimeout(resolve, FRAME_WAIT_CAP_MS);
        waiting.push({
          after,
          wake: () => {
            clearTimeout(timer);
            resolve();
          },
        });
      });
    },
  };
  return { stream: watched, frames };
}
