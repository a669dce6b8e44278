// Package bundle moves a service's build context from the CLI to the cluster as an OCI
// artifact, the "source bundle".
//
// The CLI packs the context folder with [Pack] (honouring .dockerignore with Docker's rules)
// into a reproducible gzipped tar, wraps it as a one-layer OCI image with [Build], and uploads
// it with [Push]. In the cluster, the build pod's init container runs [Fetch], which pulls the
// bundle and unpacks it into the Kaniko workspace with [Extract].
//
// Bundles are pushed and fetched by digest, never by tag, for three reasons:
//
//   - Integrity: the digest in the ImageBuild names exactly the bytes the CLI packed. A tag
//     can be moved between the push and the pod start (by a concurrent `flow build`, or by
//     anyone with push rights); a digest cannot, and go-containerregistry checks every blob
//     it reads against its digest, so the cluster builds what the user had on disk. The build
//     pod downloads the whole bundle and checks it before it unpacks a single file.
//   - Deduplication: packing is reproducible (sorted entries, fixed timestamps and owners),
//     so an unchanged context gives the same digest, the registry already has its blobs and
//     the second `flow build --push` uploads nothing.
//   - No clutter: untagged bundles do not show up as tags next to the service's real
//     images, and registry garbage collection can reclaim them once nothing refers to them.
package bundle
