FROM alpine:3.20 AS development
FROM alpine:3.20 AS production
