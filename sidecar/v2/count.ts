// Stand-in for the sidecar's one token counter (sidecar/tokens.ts, same
// signature) until it lands on this branch: the v2 window takes the counter as a
// dependency, so only the wiring changes then.
export function countTokens(text: string): number {
  return text === '' ? 0 : Math.ceil(Buffer.byteLength(text) / 4);
}
