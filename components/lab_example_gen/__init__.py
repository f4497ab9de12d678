"""LabExampleGen: the dataset build's Beam transforms as the pipeline's example gen."""
