"""The Docker engine: the client (`client`) and the pushes and pulls it makes (`transfer`).

The steps that need an image in the engine (smoke's pull, promotion from another registry) use
these; the registry layer below (`pipeline.distribution`) never does.
"""
