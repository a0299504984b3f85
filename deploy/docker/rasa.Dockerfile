# The Rasa server: the official Rasa Open Source 3.6.21 image (the version requirements/rasa.lock
# pins and the tests run) plus what `rasa run` loads of ours: rasa_ext/ (redacting tracker store,
# widget and messaging channels), credentials.yml, the production endpoints and the trained model.
# Our pipeline needs no spaCy or transformers, so the plain image, not -full. Build from the
# repository root after `make train` (models/ is not in git):
#   docker build -f deploy/docker/rasa.Dockerfile -t meridian/rasa:3.6.21 .
# The arguments of `rasa run` (with the API token) come from compose / k8s, as
# autofinance/entrypoints/stack.py gives them at process level.
FROM rasa/rasa:3.6.21

WORKDIR /app
COPY --chown=1001:0 rasa_ext/ /app/rasa_ext/
COPY --chown=1001:0 credentials.yml /app/credentials.yml
COPY --chown=1001:0 deploy/endpoints.production.yml /app/deploy/endpoints.production.yml
COPY --chown=1001:0 models/meridian.tar.gz /app/models/meridian.tar.gz
ENV PYTHONPATH=/app \
    RASA_TELEMETRY_ENABLED=false
USER 1001
EXPOSE 5005
# `rasa run` without the work Rasa 3.6.21 repeats on every message, as make run starts it.
ENTRYPOINT ["python", "-m", "rasa_ext.serving"]
