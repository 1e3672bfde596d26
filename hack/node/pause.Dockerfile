# The pod sandbox ("pause") image of the local real node, made without a registry: a
# static Go binary (pause.go) in an otherwise empty image. Build context: a folder holding
# the binary `pause` (hack/real-node.sh builds both).
FROM scratch
COPY pause /pause
USER 65535:65535
ENTRYPOINT ["/pause"]
