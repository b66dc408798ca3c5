// What the demo prints: step headers, indented detail, and a progress line for
// slow work. On a terminal the progress line is a spinner with colours; anywhere
// else (CI logs, a pipe) it is plain lines with no ANSI codes at all.
const tty = process.stdout.isTTY === true;
const color = tty && process.env.NO_COLOR === undefined && process.env.TERM !== 'dumb';
const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const PLAIN_EVERY_MS = 10_000;
const INDENT = '   ';

const paint = (code: number) => (text: string) => (color ? `\x1b[${code}m${text}\x1b[0m` : text);
export const bold = paint(1);
export const dim = paint(2);
export const green = paint(32);
export const red = paint(31);
export const cyan = paint(36);
export const yellow = paint(33);

function write(line: string): void {
  process.stdout.write(`${line}\n`);
}

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}

export function title(text: string, sub: string): void {
  write(bold(text));
  write(dim(sub));
}

export function header(label: string, text: string): void {
  write('');
  write(`${bold(cyan(`==> ${label}`))} ${bold(text)}`);
}

/** An indented line of detail; several lines keep their own layout. */
export function say(text: string): void {
  for (const line of text.split('\n')) write(`${INDENT}${line}`);
}

export function ok(text: string): void {
  write(`${INDENT}${green('✓')} ${text}`);
}

export function fail(text: string): void {
  write(`${INDENT}${red('✗')} ${text}`);
}

export function warn(text: string): void {
  write(`${INDENT}${yellow('!')} ${text}`);
}

/** A block (YAML, JSON, Redis output) set off by a bar, as a terminal would show a file. */
export function block(text: string): void {
  for (const line of text.replace(/\n$/, '').split('\n')) write(`${INDENT}${dim('│')} ${line}`);
}

/**
 * Run slow work behind a progress line; prints `✓ done(result) (time)` when it
 * finishes and leaves the error to the caller when it fails.
 */
export async function progress<T>(
  doing: string,
  work: () => Promise<T>,
  done: (result: T) => string,
): Promise<T> {
  const began = Date.now();
  const elapsed = () => seconds(Date.now() - began);
  let timer: NodeJS.Timeout;
  if (tty) {
    let frame = 0;
    const draw = () =>
      process.stdout.write(
        `\r\x1b[2K${INDENT}${cyan(FRAMES[frame++ % FRAMES.length] ?? '')} ${doing} ${dim(elapsed())}`,
      );
    draw();
    timer = setInterval(draw, 100);
  } else {
    write(`${INDENT}… ${doing}`);
    timer = setInterval(() => write(`${INDENT}… still ${doing} (${elapsed()})`), PLAIN_EVERY_MS);
  }
  const clear = () => {
    clearInterval(timer);
    if (tty) process.stdout.write('\r\x1b[2K');
  };
  try {
    const result = await work();
    clear();
    ok(`${done(result)} ${dim(`(${elapsed()})`)}`);
    return result;
  } catch (err) {
    clear();
    throw err;
  }
}

/** A line from work behind a progress line: on a terminal it first clears the spinner. */
export function note(text: string): void {
  if (tty) process.stdout.write('\r\x1b[2K');
  say(dim(text));
}
