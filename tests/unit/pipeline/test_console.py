"""pipeline/console.py: framework noise goes to the log file, the terminal gets progress and the summary only.

Each test runs a small program in a child process (as `make demo` runs pipeline.demo: console.start() before the
imports, absl's app.run, `with console.start(...)` in main) and reads what reached its stdout/stderr (the
"terminal") and its log file.
"""

import glob
import os
import re
import subprocess
import sys
import textwrap

from conftest import REPO

PROGRAM = textwrap.dedent('''
    import os
    import sys
    from pipeline import console
    if __name__ == '__main__':
      console.start('child', log_dir=os.environ['FIRST_LOG_DIR'])

    import logging
    import multiprocessing
    import subprocess
    import warnings
    from absl import app
    from absl import logging as absl_logging

    def noise_from_pool_process():
      os.write(2, b'NOISE-FORKSERVER-PROCESS fd 2\\n')
      print('NOISE-FORKSERVER-PROCESS stdout', flush=True)

    def main(argv):
      with console.start('child') as out:
        out.relocate(os.environ['LOG_DIR'])
        out.print('Running the pipeline ...')
        # What TensorFlow / gRPC / abseil C++ code does: write straight to the file descriptors.
        os.write(2, b'I0000 00:00:1.0 1 cpu_feature_guard.cc:227] NOISE-CPP-FD2 This TensorFlow binary is ...\\n')
        os.write(1, b'NOISE-CPP-FD1\\n')
        for i in range(40):
          os.write(2, b'NOISE-FILLER %d\\n' % i)
        print('NOISE-PRINT')
        subprocess.run([sys.executable, '-c', 'import os; os.write(2, b"NOISE-CHILD-PROCESS env "'
                        ' + os.environ["TF_CPP_MIN_LOG_LEVEL"].encode() + b"\\\\n")'], check=True)
        with multiprocessing.get_context('forkserver').Pool(1) as pool:  # as dataset/pool.py starts its pool
          pool.apply(noise_from_pool_process)
        warnings.warn('NOISE-WARNING deprecated thing', FutureWarning)
        logging.getLogger('some.framework').info('NOISE-PY-INFO artifact { id: 1 }')
        absl_logging.warning('NOISE-ABSL-WARNING')
        # The records pipeline/run_local.py, TFX's LocalDagRunner and launcher, and trainer/train.py log.
        logging.getLogger('pipeline.run_local').info('Running %d nodes: %s', 2, 'LabExampleGen, ColorizerTrainer',
                                                     extra={'pipeline_nodes': ['LabExampleGen', 'ColorizerTrainer']})
        absl_logging.info('Component %s is running.', 'LabExampleGen')
        absl_logging.info('A cached execution %d is used.', 7)
        absl_logging.info('Component %s is finished.', 'LabExampleGen')
        absl_logging.info('Component %s is running.', 'ColorizerTrainer')
        trainer = logging.getLogger('trainer.train')
        trainer.info('step 1/2  loss 0.50000  val_loss n/a  lr 1.00e-04')
        trainer.info('NOISE-TRAINER-OTHER warm start: ...')
        print('step 1/2  loss 0.50000  val_loss n/a  lr 1.00e-04 (printed: NOISE)')
        trainer.info('step 2/2  loss 0.40000  val_loss 0.30000  lr 1.00e-04')
        if os.environ.get('FAIL'):
          os.write(2, b'NOISE-LAST-BEFORE-FAILURE\\n')
          raise ValueError('the trainer broke\\nsecond line of the message')
        absl_logging.info('Component %s is finished.', 'ColorizerTrainer')
        out.print('')
        out.print('=== Summary ===')
        out.print('  everything fine')

    if __name__ == '__main__':
      app.run(main)
''')


def _run(tmp_path, *args, **env):
  program = tmp_path / 'child.py'
  program.write_text(PROGRAM)
  environment = {k: v for k, v in os.environ.items() if k not in ('TF_CPP_MIN_LOG_LEVEL', 'GRPC_VERBOSITY')}
  environment.update(PYTHONPATH=REPO, FIRST_LOG_DIR=str(tmp_path / 'first'), LOG_DIR=str(tmp_path / 'logs'), **env)
  return subprocess.run([sys.executable, str(program), *args], cwd=tmp_path, env=environment, capture_output=True,
                        text=True, timeout=120)


def _log(tmp_path):
  logs = glob.glob(str(tmp_path / 'logs' / 'child-*.log'))
  assert len(logs) == 1, logs
  return logs[0], open(logs[0]).read()


def test_terminal_shows_only_progress_and_summary_and_the_log_gets_the_noise(tmp_path):
  run = _run(tmp_path)
  assert run.returncode == 0, (run.stdout, run.stderr)
  path, log = _log(tmp_path)
  assert run.stderr == ''
  assert re.sub(r'done in \d+ s', 'done in N s', run.stdout).splitlines() == [
      'Running the pipeline ...',
      '[1/2] LabExampleGen ... done in N s (cached)',
      '[2/2] ColorizerTrainer ...',
      '      step 1/2  loss 0.50000  val_loss n/a  lr 1.00e-04',
      '      step 2/2  loss 0.40000  val_loss 0.30000  lr 1.00e-04',
      '[2/2] ColorizerTrainer done in N s',
      '',
      '=== Summary ===',
      '  everything fine',
      f'Full log: {path}',
  ]
  for noise in ('NOISE-CPP-FD2', 'NOISE-CPP-FD1', 'NOISE-PRINT', 'NOISE-CHILD-PROCESS env 1',
                'NOISE-FORKSERVER-PROCESS fd 2', 'NOISE-FORKSERVER-PROCESS stdout', 'NOISE-WARNING deprecated thing',
                'NOISE-PY-INFO artifact', 'NOISE-ABSL-WARNING', 'NOISE-TRAINER-OTHER',
                'Component ColorizerTrainer is running', 'step 2/2  loss 0.40000'):
    assert noise in log, noise
  assert not os.listdir(tmp_path / 'first')  # relocate() moved the log out of the first folder


def test_failure_names_the_component_and_prints_the_log_tail_and_path(tmp_path):
  run = _run(tmp_path, FAIL='1')
  assert run.returncode == 1, (run.stdout, run.stderr)
  path, log = _log(tmp_path)
  assert re.sub(r'done in \d+ s', 'done in N s', run.stdout).splitlines() == [
      'Running the pipeline ...',
      '[1/2] LabExampleGen ... done in N s (cached)',
      '[2/2] ColorizerTrainer ...',
      '      step 1/2  loss 0.50000  val_loss n/a  lr 1.00e-04',
      '      step 2/2  loss 0.40000  val_loss 0.30000  lr 1.00e-04',
  ]
  lines = run.stderr.splitlines()
  assert lines[0] == 'child failed in [2/2] ColorizerTrainer: ValueError: the trainer broke'
  assert lines[1] == f'--- last 30 lines of {path} ---'
  assert lines[-1] == f'--- full log: {path}'
  tail = lines[2:-1]
  assert tail == log.splitlines()[-30:]
  assert 'NOISE-LAST-BEFORE-FAILURE' in tail
  assert 'ValueError: the trainer broke' in tail  # the traceback is in the log, so in its tail
  assert any(line.startswith('Traceback (most recent call last)') for line in log.splitlines())


def test_help_is_not_captured(tmp_path):
  run = _run(tmp_path, '--helpshort')
  assert 'child.py' in run.stdout and '--helpfull' in run.stdout, (run.stdout, run.stderr)
  assert not (tmp_path / 'first').exists() and not (tmp_path / 'logs').exists()


def test_demo_keeps_import_banners_off_the_terminal_and_shows_a_flag_error(tmp_path):
  """pipeline.demo itself: TensorFlow/TFX import noise (bson, absl::InitializeLog, oneDNN) lands in its log; a
  process that ends before its run (a bad flag) prints the log's tail and path."""
  run = subprocess.run([sys.executable, '-m', 'pipeline.demo', '--samples=many'], cwd=tmp_path,
                       env={**os.environ, 'PYTHONPATH': REPO}, capture_output=True, text=True, timeout=300)
  assert run.returncode != 0
  assert run.stdout == ''
  logs = glob.glob(str(tmp_path / 'outputs' / 'logs' / 'demo-*.log'))
  assert len(logs) == 1, logs
  log = open(logs[0]).read()
  assert 'Could not find a compatible bson package' in log  # tfx's import-time print
  lines = run.stderr.splitlines()
  assert lines[0].startswith('--- demo ended before its run began; last ')
  assert lines[0].endswith(f'{os.path.basename(logs[0])} ---')
  assert lines[1:] == log.splitlines()[-(len(lines) - 1):]  # nothing but the log's tail reached the terminal
  assert any('Flags parsing error' in line and 'many' in line for line in lines)
