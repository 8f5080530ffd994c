package models

// DefaultOptions are the network options every command uses for a space
// unless the user (or an architecture file) says otherwise: for imagenet the
// paper's models (SE on, h-swish, 1000 classes); for the CIFAR spaces the
// authors' CIFAR recipe (SE off, ReLU6, the space's classes). This is the one
// definition of those defaults.
func DefaultOptions(space *Space) Options {
	if space.Name == "imagenet" {
		return Options{Space: space, SE: true, Act: HSwish, Classes: 1000}
	}
	return Options{Space: space, SE: false, Act: ReLU6, Classes: space.Classes}
}
