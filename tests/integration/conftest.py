"""The shared integration fixture lives in ``tests/conftest.py`` (``simulated_day``, ``in_simulated_day``), so
the reliability suite shares the same simulated day."""
