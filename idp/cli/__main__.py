"""``python -m idp.cli``: the ``idp`` command."""

from . import main

main(prog_name="idp")
