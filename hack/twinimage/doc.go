// Package twinimage checks the twin's container image (hack/twin-image.sh, `make
// twin-image`): each store the manifests in fixtures/twin run, and the twin binary, started
// from the image with the fixtures' command lines and init steps, answers a real client.
// It has only a test; the test needs a container engine and the image, so it runs only when
// THREESCALE_CHAOS_TWIN_IMAGE names the image (`make kind-test` sets it).
package twinimage
