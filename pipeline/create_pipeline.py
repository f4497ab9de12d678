"""The TFX pipeline, defined once for every runner (the TFX templates' `create_pipeline()`):

    LabExampleGen -> ColorizerTrainer -> ColorizationEvaluator (baseline: the model the candidate started from, else
    the latest blessed model) -> Pusher (with `push.fallback_to_start_model`: the start model when it alone passes)

Everything environment-dependent (paths, Beam arguments, the metadata store) comes in as arguments or from the
config; the local runner and the Vertex AI compiler both call this function.
"""

from __future__ import annotations

from typing import Any, Sequence

from tfx import types
from tfx.dsl.components.common import resolver
from tfx.dsl.input_resolution.strategies.latest_blessed_model_strategy import LatestBlessedModelStrategy
from tfx.orchestration import pipeline as tfx_pipeline
from tfx.proto import trainer_pb2
from tfx.types import standard_artifacts

import configs
from components.colorization_evaluator.component import ColorizationEvaluator
from components.colorizer_trainer.component import ColorizerTrainer
from components.colorizer_trainer.component import VertexColorizerTrainer
from components.colorizer_trainer.component import trainer_custom_config
from components.colorizer_trainer import vertex_executor
from components.idempotent_pusher.component import IdempotentPusher
from components.lab_example_gen.component import LabExampleGen
from components.lab_example_gen.component import example_gen_config


def create_pipeline(config: configs.PipelineConfig, *, input_fingerprint: str = '',
                    metadata_connection_config: Any = None, beam_pipeline_args: Sequence[str] = (),
                    train_steps: int = 0, enable_cache: bool = True,
                    trainer: Any = None) -> tfx_pipeline.Pipeline:
  """The colorization pipeline.

  Args:
    config: The PipelineConfig. Each component gets only its slice (`configs.slice_json`) in its execution
      properties: data (+ model when the build precomputes embeddings) -> LabExampleGen, model + training ->
      ColorizerTrainer, evaluation -> ColorizationEvaluator, push.destination -> Pusher; Beam options come from
      `beam_pipeline_args`. So a change to one section re-runs only the components that read it (and those after
      them), and e.g. a quality-gate tweak never rebuilds the dataset or retrains.
    input_fingerprint: Changes when the input photos change (`dataset.inputs.fingerprint`); keys the cache.
    metadata_connection_config: ML Metadata connection (SQLite locally; None on Vertex, which has its own).
    beam_pipeline_args: Beam options for the Beam-powered components (example gen, evaluator).
    train_steps: Cap on training steps (0 = the config's epochs).
    enable_cache: Serve unchanged component runs from the cache.
    trainer: Replaces the ColorizerTrainer (e.g. a Vertex custom-job trainer); called as trainer(examples=...).
  """
  if not config.data.split_ratios.get(config.evaluation.split, 0.0) > 0.0:
    raise configs.ConfigError(f'evaluation.split: the gate scores the {config.evaluation.split!r} split, which '
                              f'data.split_ratios {config.data.split_ratios} leaves empty')
  latest_blessed = resolver.Resolver(
      strategy_class=LatestBlessedModelStrategy,
      model=types.Channel(type=standard_artifacts.Model),
      model_blessing=types.Channel(type=standard_artifacts.ModelBlessing)).with_id('latest_blessed_model_resolver')
  example_gen = LabExampleGen(example_gen_config(config), input_fingerprint=input_fingerprint)
  examples = example_gen.outputs['examples']
  if trainer is None:
    custom_config = trainer_custom_config(config)
    # On Vertex with several trainer replicas, training runs as a multi-worker custom job.
    trainer_class = VertexColorizerTrainer if vertex_executor.JOB_KEY in custom_config else ColorizerTrainer
    training = trainer_class(examples=examples, custom_config=custom_config,
                             train_args=trainer_pb2.TrainArgs(num_steps=train_steps, splits=['train']),
                             eval_args=trainer_pb2.EvalArgs(splits=['eval']),
                             base_model=(latest_blessed.outputs['model'] if config.training.warm_start_from_blessed
                                         else None)).with_id('ColorizerTrainer')
  else:
    training = trainer(examples=examples)
  evaluator = ColorizationEvaluator(examples=examples, model=training.outputs['model'],
                                    config_json=configs.slice_json(config, 'evaluation'),
                                    baseline_model=latest_blessed.outputs['model'])
  pusher = IdempotentPusher(model=training.outputs['model'], model_blessing=evaluator.outputs['blessing'],
                            destination=config.push.destination,
                            fallback_to_start_model=config.push.fallback_to_start_model)
  return tfx_pipeline.Pipeline(
      pipeline_name=config.runner.pipeline_name,
      pipeline_root=config.runner.pipeline_root,
      components=[example_gen, training, latest_blessed, evaluator, pusher],
      enable_cache=enable_cache,
      metadata_connection_config=metadata_connection_config,
      beam_pipeline_args=list(beam_pipeline_args))
