"""`python -m kubetune.operator`: the same as `kubetune-operator`."""

from kubetune.operator.runtime.main import main

if __name__ == "__main__":
    main()
