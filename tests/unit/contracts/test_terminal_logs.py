"""contracts/terminal_logs.py: what a process and its children write to fds 1/2 lands in the log file while captured,
the terminal (the original descriptors) is reached through `out`/`err`/`stream`, and `release` gives it back. Each
test runs a small program in a child process and reads its real stdout/stderr (the "terminal") and its log file."""

import glob
import os
import subprocess
import sys
import textwrap

from conftest import REPO

PROGRAM = textwrap.dedent('''
    import os
    import subprocess
    import sys
    from contracts import terminal_logs

    capture = terminal_logs.Capture('child', os.environ['LOG_DIR'])
    os.write(2, b'NOISE-FD2 cpu_feature_guard\\n')
    print('NOISE-PRINT', flush=True)
    subprocess.run([sys.executable, '-c', 'import os; e = os.environ; os.write(2, b"NOISE-CHILD env " + '
                    'e["TF_CPP_MIN_LOG_LEVEL"].encode() + b" " + e["GRPC_VERBOSITY"].encode() + b"\\\\n")'], check=True)
    os.write(capture.out, b'progress on the terminal\\n')
    os.write(capture.err, b'a note on the terminal\\n')
    print('a summary on the stream', file=capture.stream)
    terminal_logs.point_fds_at(os.path.join(os.environ['LOG_DIR'], 'second.log'))
    os.write(1, b'NOISE-SECOND\\n')
    capture.release()
    capture.release()  # idempotent
    print('after release', flush=True)
    print('log:', capture.log_path, flush=True)
''')


def _run(tmp_path, **env):
  program = tmp_path / 'child.py'
  program.write_text(PROGRAM)
  environment = {k: v for k, v in os.environ.items() if k not in ('TF_CPP_MIN_LOG_LEVEL', 'GRPC_VERBOSITY')}
  environment.update(PYTHONPATH=REPO, LOG_DIR=str(tmp_path / 'logs'), **env)
  return subprocess.run([sys.executable, str(program)], cwd=tmp_path, env=environment, capture_output=True, text=True,
                        timeout=60)


def test_fds_go_to_the_log_and_the_terminal_gets_only_what_is_written_to_it(tmp_path):
  run = _run(tmp_path)
  assert run.returncode == 0, run.stderr
  logs = glob.glob(str(tmp_path / 'logs' / 'child-*.log'))
  assert len(logs) == 1, logs
  assert run.stdout.splitlines() == ['progress on the terminal', 'after release', f'log: {logs[0]}']
  assert run.stderr == 'a note on the terminal\na summary on the stream\n'
  log = open(logs[0]).read()
  for noise in ('NOISE-FD2 cpu_feature_guard', 'NOISE-PRINT', 'NOISE-CHILD env 1 ERROR'):  # children quieted too
    assert noise in log, noise
  assert open(tmp_path / 'logs' / 'second.log').read() == 'NOISE-SECOND\n'


def test_the_users_own_log_level_is_kept(tmp_path):
  run = _run(tmp_path, TF_CPP_MIN_LOG_LEVEL='0')
  assert run.returncode == 0, run.stderr
  log = open(glob.glob(str(tmp_path / 'logs' / 'child-*.log'))[0]).read()
  assert 'NOISE-CHILD env 0 ERROR' in log
