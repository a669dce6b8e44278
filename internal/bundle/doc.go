// Package bundle moves a service's build context from the CLI to the cluster as an OCI
// artifact, the "source bundle".
//
// The CLI plans the context folder (honouring .dockerignore with Docker's rules) and packs it with
// [Build] into an OCI image of reproducible gzipped tar layers, cut where the files themselves
// say (content-defined) so that one changed file changes one small layer, and uploads it with
// [Push], which sends only the layers the registry lacks. A local index (in the user's cache
// folder) remembers each layer's digests by what its files looked like, so that an unchanged
// context is recognised without compressing anything. In the cluster, the build pod's init
// container runs [Fetch], which pulls the bundle, verifies every layer, and unpacks the layers in
// order into the Kaniko workspace with [ExtractLayers]; a path belongs to one layer.
//
// Bundles are pushed and fetched by digest, never by tag, for three reasons:
//
//   - Integrity: the digest in the ImageBuild names exactly the bytes the CLI packed. A tag
//     can be moved between the push and the pod start (by a concurrent `flow build`, or by
//     anyone with push rights); a digest cannot, and go-containerregistry checks every blob
//     it reads against its digest, so the cluster builds what the user had on disk. The build
//     pod downloads every layer and checks it before it unpacks a single file.
//   - Deduplication: packing is reproducible (sorted entries, fixed timestamps and owners,
//     layer boundaries that depend only on the files), so an unchanged context gives the same
//     digest, the registry already has its blobs and the second `flow build --push` uploads
//     nothing; a changed one uploads the layers that changed.
//   - No clutter: untagged bundles do not show up as tags next to the service's real
//     images, and registry garbage collection can reclaim them once nothing refers to them.
package bundle
