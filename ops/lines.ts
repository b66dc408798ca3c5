// Lines of a stream, one at a time, as the consumer takes them: the next chunk is
// read only once the lines before it are handled, so a slow consumer (Redis) holds
// back a fast producer (a file, a pipe) instead of buffering the whole input.
// readline's async iterator does not: it reads ahead while the loop awaits.
import type { Readable, Writable } from 'node:stream';

const NEWLINE = 0x0a;

/** Writes `chunk`, resolving once `out` takes more (back-pressure). */
export async function writeChunk(out: Writable, chunk: string | Buffer): Promise<void> {
  if (out.write(chunk)) return;
  await new Promise<void>((resolve, reject) => {
    const done = (err?: Error) => {
      out.off('drain', done);
      out.off('error', done);
      if (err) reject(err);
      else resolve();
    };
    out.once('drain', done);
    out.once('error', done);
  });
}

/**
 * Calls `onLine` with each line of `input` (without its newline, a trailing \r
 * removed) and its number from 1, awaiting it before the next; `copy` receives the
 * input's bytes as read. Resolves when the input ends or `onLine` returns false.
 */
export async function forEachLine(
  input: Readable,
  onLine: (line: Buffer, number: number) => Promise<boolean | void> | boolean | void,
  copy?: Writable,
): Promise<void> {
  let parts: Buffer[] = [];
  let number = 0;
  const emit = async (line: Buffer): Promise<boolean> => {
    number++;
    const end = line.length > 0 && line[line.length - 1] === 0x0d ? line.length - 1 : line.length;
    return (await onLine(line.subarray(0, end), number)) !== false;
  };
  for await (const data of input) {
    const chunk = typeof data === 'string' ? Buffer.from(data) : (data as Buffer);
    if (copy) await writeChunk(copy, chunk);
    let from = 0;
    for (let nl = chunk.indexOf(NEWLINE); nl >= 0; nl = chunk.indexOf(NEWLINE, from)) {
      parts.push(chunk.subarray(from, nl));
      const line = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
      parts = [];
      from = nl + 1;
      if (!(await emit(line))) return;
    }
    if (from < chunk.length) parts.push(chunk.subarray(from));
  }
  if (parts.length > 0) await emit(Buffer.concat(parts));
}
