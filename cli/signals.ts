// Commands that must say or undo something when the user stops them (Ctrl-C, `kill`), and then
// end exactly as an unguarded command would: `cellar run` reporting what it leaves, `cellar build`
// and `cellar docs` removing their staging folder (staging.ts).

/**
 * Until the returned function is called: on the first of `signals`, stop listening to all of them,
 * run `act(signal)`, then send the signal again. With no listener left its default action applies,
 * so the process ends by it (a parent sees the signal, a shell reports 128 + its number).
 * @returns stop listening (idempotent).
 */
export function onStopSignal(
  signals: readonly NodeJS.Signals[],
  act: (signal: NodeJS.Signals) => void,
): () => void {
  const stop = () => {
    for (const signal of signals) process.off(signal, on);
  };
  const on = (signal: NodeJS.Signals) => {
    stop();
    act(signal);
    process.kill(process.pid, signal);
  };
  for (const signal of signals) process.on(signal, on);
  return stop;
}
