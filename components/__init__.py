"""TFX components of the colorization pipeline (spec / executor / component, as TFX's own components)."""
