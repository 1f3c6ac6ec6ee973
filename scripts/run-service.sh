#!/usr/bin/env bash
# Starts one model service with the JVM settings big weights need (application.properties cannot set JVM flags).
#
#   scripts/run-service.sh text-encoder|unet|vae [-Dproperty=value ...]
#
# e.g. scripts/run-service.sh unet -Ddiffusion.model.path=$HOME/models/stable-diffusion-v1-5 -Ddiffusion.precision=bf16
#
# The weights live in native (TensorFlow) memory, not on the Java heap, so the heap stays small and JavaCPP's
# physical-memory guard (which would refuse allocations above ~heap size) is turned off. Environment:
#   SERVICE_HEAP   -Xmx of the service (default 1g)
#   JAVA_OPTS      more JVM flags
#   any Quarkus property as an environment variable: DIFFUSION_MODEL_PATH, QUARKUS_HTTP_PORT, ...
#   (DIFFUSION_UNET_REPLICAS or -Ddiffusion.unet.replicas above 1 also sets TF_OVERRIDE_GLOBAL_THREADPOOL=1)
# Builds the service first when its target/quarkus-app is missing.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
name="${1:-}"
case "$name" in
  text-encoder|unet|vae) module="$name-service" ;;
  text-encoder-service|unet-service|vae-service) module="$name" ;;
  *) echo "usage: $0 text-encoder|unet|vae [-Dproperty=value ...]" >&2; exit 2 ;;
esac
shift
jar="$root/$module/target/quarkus-app/quarkus-run.jar"
if [[ ! -f "$jar" ]]; then
  (cd "$root" && ./mvnw -B -q -DskipTests package -pl "$module" -am)
fi
# U-Net replicas (diffusion.unet.replicas > 1) need one TensorFlow thread pool per session
replicas="${DIFFUSION_UNET_REPLICAS:-1}"
for arg in "$@"; do
  case "$arg" in -Ddiffusion.unet.replicas=*) replicas="${arg#*=}" ;; esac
done
if [[ "$replicas" =~ ^[0-9]+$ ]] && (( replicas > 1 )); then
  export TF_OVERRIDE_GLOBAL_THREADPOOL="${TF_OVERRIDE_GLOBAL_THREADPOOL:-1}"
fi
# shellcheck disable=SC2086
exec java -Xmx"${SERVICE_HEAP:-1g}" \
  -Dorg.bytedeco.javacpp.maxPhysicalBytes=0 -Dorg.bytedeco.javacpp.maxBytes=0 \
  -XX:+ExitOnOutOfMemoryError \
  ${JAVA_OPTS:-} "$@" -jar "$jar"
