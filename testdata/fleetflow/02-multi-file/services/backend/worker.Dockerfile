FROM alpine:3.20 AS debug
FROM alpine:3.20 AS release
