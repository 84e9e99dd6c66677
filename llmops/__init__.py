"""What every layer of llmops shares: settings, service clients, errors and the CLI.

Only code that flows, tasks, infra and the CLI all need belongs here; stage logic lives in
`tasks/`, wiring in `flows/`, and the local stack launcher in `infra/`.
"""

__version__ = "0.1.0"
