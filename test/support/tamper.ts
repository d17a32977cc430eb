// Test support for issue 8's "changed while the task ran" cases (test/acceptance/run-reads.test.ts,
// test/distributed/bullmq.test.ts).
//
// An outside program that rewrites a task's input while the task runs (an export job, a sync),
// stood in for by a shell script the task itself starts: deterministic, and invisible to the
// recorder as child processes' reads and writes are. `before` saves the file and changes it;
// `after` puts the saved bytes back when given `restore`. Only while `tamper-once` exists.
// Usage: `sh tamper.sh before <file> <from> <to>`, then `sh tamper.sh after <file> restore|keep`.
export const TAMPER_SCRIPT = `set -e
[ -f tamper-once ] || exit 0
case "$1" in
  before) cp "$2" saved.bak; sed -i "s/$3/$4/" "$2" ;;
  after) if [ "$3" = restore ]; then cp saved.bak "$2"; fi; rm -f saved.bak tamper-once ;;
esac
`;
