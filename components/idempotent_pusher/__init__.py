"""Pusher with an idempotent executor: TFX's standard Pusher that does not push the same model twice."""
