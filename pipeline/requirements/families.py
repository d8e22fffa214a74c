"""Which packages belong in the base layer by what they are: ML frameworks and their families.

A name list alone always lags the field, so packages are recognised by family: the prefixes
and suffixes a framework's ecosystem names its packages with (`torch*`, `tf-*`, `jax-*`,
`nvidia-*`, `*-pytorch`), plus the names no rule can guess. Where a lock file gives the
dependency graph, `closure.py` adds whatever is built directly on a framework.

The rule behind the names: a package that requires a base framework, or ships large native
code of its own, belongs to the base; both change rarely and cost minutes to reinstall.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence

from packaging.utils import canonicalize_name

# Canonical names or globs. Heavy (large wheels, native code, CUDA) and slow to change: these
# are worth a cache layer of their own. Pure-Python libraries that move fast stay in the app.
BUILTIN_BASE: tuple[str, ...] = (
    # PyTorch and its ecosystem, by family name
    "torch", "torch*", "pytorch-*", "*-pytorch", "*-torch", "triton", "pytorch-triton*",
    "xformers", "flash-attn*", "flashinfer*", "deepspeed", "bitsandbytes", "vllm*", "exllama*",
    "auto-gptq", "autoawq*", "gptqmodel", "lightning", "lightning-*", "kornia", "timm", "peft",
    "ultralytics", "ultralytics-*", "intel-extension-for-*", "llama-cpp-python*",
    # TensorFlow and Keras, releases and nightlies
    "tensorflow", "tensorflow-*", "tf-*", "tb-nightly", "tensorboard", "tensorboard-*", "keras",
    "keras-*",
    # JAX, its CUDA/ROCm plugins and the TPU runtime
    "jax", "jaxlib", "jax-*", "libtpu", "libtpu-*", "flax", "ml-dtypes",
    # other frameworks
    "paddlepaddle*", "mxnet*",
    # CUDA and accelerator runtimes
    "nvidia-*", "cupy-*", "cuda-python", "cuda-bindings", "tensorrt*", "openvino*",
    # numerics and data frames
    "numpy", "scipy", "pandas", "pyarrow", "polars", "numba", "llvmlite", "numexpr", "h5py",
    "sympy",
    # classic ML and vector search
    "scikit-learn", "scikit-image", "xgboost", "lightgbm", "catboost", "statsmodels", "joblib",
    "threadpoolctl", "faiss", "faiss-*",
    # model formats, runtimes and the Hugging Face core
    "onnx", "onnxruntime", "onnxruntime-*", "safetensors", "tokenizers", "sentencepiece",
    "transformers", "accelerate", "sentence-transformers",
    # imaging
    "opencv-*", "pillow",
    # Built on a framework (the rule a lock's graph applies, here for files without one):
    # speech, vision and NLP models that require torch or onnxruntime at import.
    "kokoro", "pyannote-*", "grad-cam", "faster-whisper", "openai-whisper", "whisperx",
    "speechbrain", "easyocr", "insightface",
    # Large native code of their own: inference engines and NLP/embedding libraries whose
    # wheels are compiled extensions (spaCy's thinc, blis and friends come with it).
    "ctranslate2", "gensim", "spacy", "spacy-*", "thinc", "blis", "cymem", "preshed",
    "murmurhash", "srsly", "fasttext", "fasttext-*", "mediapipe", "av", "decord", "dlib",
)  # fmt: skip

# The frameworks a family grows around: a package that requires one of these (and is in the
# base itself) is built on it and joins the base too.
FRAMEWORKS: tuple[str, ...] = (
    "torch", "tensorflow", "tensorflow-cpu", "tensorflow-gpu", "tf-nightly", "jax", "jaxlib",
    "keras", "keras-nightly", "paddlepaddle*", "mxnet*",
)  # fmt: skip

# Never base by family or name, whatever the rules above match: the serving stack changes
# with the app, and TorchServe's packaging tools are small CLIs. `base_add` still wins.
APP_ONLY: tuple[str, ...] = (
    "fastapi", "starlette", "uvicorn", "pydantic", "pydantic-*", "gunicorn", "flask",
    "torchserve", "torch-model-archiver", "torch-workflow-archiver",
)  # fmt: skip


def is_base_package(name: str, add: Sequence[str] = (), remove: Sequence[str] = ()) -> bool:
    """Whether `name` goes to the base layer. `remove` trims the built-in list; `add` wins."""
    name = canonicalize_name(name)
    if matches(name, add):
        return True
    return matches(name, BUILTIN_BASE) and not matches(name, [*APP_ONLY, *remove])


def is_framework(name: str) -> bool:
    return matches(name, FRAMEWORKS)


def may_join_family(name: str, remove: Sequence[str] = ()) -> bool:
    """Whether a package built on a framework may follow it to the base: not the serving
    stack, and not one the project's `base_remove` keeps in the app."""
    return not matches(canonicalize_name(name), [*APP_ONLY, *remove])


def matches(name: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, canonicalize_name(p.strip())) for p in patterns)
