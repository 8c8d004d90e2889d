"""The benchmarks, run from a checkout, never from an installed provider: the wheel leaves this
package out (pyproject's package discovery; tests/test_packaging.py checks it).

- ``python -m idp.bench`` (`make bench`): in-process figures, Flask's test client on SQLite.
- ``python -m idp.bench.compare`` (`make bench-compare`): ``idp serve`` on PostgreSQL against
  oidc-provider 9 (``bench/oidc-provider`` at the top of the checkout), with wrk.
- ``python -m idp.bench.profile ENDPOINT``: where the time goes, with py-spy.

``setup`` prepares the measured instance, ``load`` drives it (wrk, sign-ins, CPU and RSS of the
server's processes) and ``hello`` is the hello-world app that gives the server's ceiling.
"""
