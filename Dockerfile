# The image every Vertex AI Pipelines component (and Dataflow worker, via --sdk_container_image) runs in:
# this project and its pinned dependencies. Build and push:
#   docker build -t us-docker.pkg.dev/<YOUR_PROJECT>/colorize/pipeline:latest . && docker push ...
# then set runner.container_image in configs/gcp.yaml.
FROM python:3.11-slim
WORKDIR /pipeline
COPY requirements/ requirements/
RUN pip install --no-cache-dir --no-deps -r requirements/base.lock \
 && pip install --no-cache-dir --no-deps -r requirements/tfx.lock \
 && pip install --no-cache-dir --no-deps -r requirements/cloud.lock
COPY . .
RUN pip install --no-cache-dir --no-deps --no-build-isolation -e .
# Beam's SDK harness entry point, so the same image serves as a Dataflow custom container.
COPY --from=apache/beam_python3.11_sdk:2.77.0 /opt/apache/beam /opt/apache/beam
ENTRYPOINT ["/opt/apache/beam/boot"]
