"""What prefect.yaml refers to besides the flows: parameter profiles (profiles/*.yaml) and their loader."""
