"""The model project's configuration: the schema and its loading (`schema`), the values checked
offline (`checks`), settings from the environment (`env`, `envcheck`) and the strict YAML reader."""
