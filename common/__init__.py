"""What every package of jianguan shares and nothing else: the strict config base, severities, the time-zone
type (model.py) and the registry that turns plugin classes into one validated config surface (registry.py).

It imports only i18n and pydantic, so every package may import it; it never imports another package."""
