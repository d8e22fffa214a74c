"""Reference model-serving app shipped in every image: `python -m serve`.

The same package is copied into each model project by `pipeline init`, so it depends only on
what the image installs (FastAPI, uvicorn, pydantic) plus the framework of the model it loads.
"""
