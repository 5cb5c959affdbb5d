import pathlib

from setuptools import find_packages, setup

setup(
    name="lstm_sentiment",
    version="0.1.0",
    description="LSTM networks for sentiment analysis: the Theano tutorial, reimplemented on PyTensor",
    long_description=pathlib.Path("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="BSD-3-Clause",
    packages=find_packages(include=["lstm_sentiment", "lstm_sentiment.*"]),
    package_data={"lstm_sentiment.kernel": ["kernel.c"]},  # compiled at first use (kernel/build.py)
    python_requires=">=3.10",
    install_requires=[
        "numpy",
        "pytensor>=3.0,<4",
        "sacremoses",
        "matplotlib",
        "tqdm",
    ],
    extras_require={
        "test": ["pytest", "ruff", "datasets"],  # datasets: the hf: tests, on datasets they save locally
        "hf": ["datasets"],  # Hugging Face datasets as --dataset hf:NAME[:CONFIG] or hf:PATH
        "bench": ["torch"],
        "sweep": ["ray[tune]", "optuna"],
        # PyPI's MKL (1 GB) for the plain scan graph (--no-fused) on PyTensor's C backend, 1.5x faster
        # there than PyTensor's own NumPy-based BLAS; the kernel links no BLAS.
        "mkl": ["mkl; platform_system != 'Darwin' and platform_machine in 'x86_64 AMD64'"],
    },
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
