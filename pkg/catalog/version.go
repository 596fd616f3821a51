package catalog

import (
	"fmt"
	"strconv"
	"strings"
)

// Version is a 3scale API Management release, such as 2.14 or 2.16.3. It is the
// product version, not the operator version (3scale 2.16 ships operator 0.13).
type Version struct {
	Major, Minor, Patch int
}

// Versions at which the catalog's facts change.
var (
	// V2_14 renamed system-sphinx to system-searchd.
	V2_14 = Version{Major: 2, Minor: 14}
	// V2_15 replaced every DeploymentConfig with an apps/v1 Deployment and added
	// the `hpa` switches to the APIManager CR.
	V2_15 = Version{Major: 2, Minor: 15}
	// V2_16 made backend-redis, system-redis and the system database external.
	V2_16 = Version{Major: 2, Minor: 16}
)

// ParseVersion parses "MAJOR.MINOR" or "MAJOR.MINOR.PATCH", with an optional
// leading "v". A missing patch is 0.
func ParseVersion(s string) (Version, error) {
	trimmed := strings.TrimPrefix(strings.TrimSpace(s), "v")
	parts := strings.Split(trimmed, ".")
	if len(parts) < 2 || len(parts) > 3 {
		return Version{}, fmt.Errorf("parse 3scale version %q: want MAJOR.MINOR or MAJOR.MINOR.PATCH, such as 2.14 or 2.16.3", s)
	}
	nums := make([]int, 3)
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || strings.TrimLeft(p, "0123456789") != "" {
			return Version{}, fmt.Errorf("parse 3scale version %q: %q is not a non-negative number", s, p)
		}
		nums[i] = n
	}
	return Version{Major: nums[0], Minor: nums[1], Patch: nums[2]}, nil
}

// MustParseVersion is ParseVersion for constants in code and tests; it panics
// on a malformed string.
func MustParseVersion(s string) Version {
	v, err := ParseVersion(s)
	if err != nil {
		panic(err)
	}
	return v
}

// String formats the version as MAJOR.MINOR.PATCH.
func (v Version) String() string {
	return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch)
}

// IsZero reports whether v is the zero Version (no version given).
func (v Version) IsZero() bool {
	return v == Version{}
}

// Compare returns -1, 0 or +1 as v is older than, equal to or newer than o.
func (v Version) Compare(o Version) int {
	switch {
	case v.Major != o.Major:
		return sign(v.Major - o.Major)
	case v.Minor != o.Minor:
		return sign(v.Minor - o.Minor)
	default:
		return sign(v.Patch - o.Patch)
	}
}

// AtLeast reports whether v is o or newer.
func (v Version) AtLeast(o Version) bool {
	return v.Compare(o) >= 0
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	default:
		return 0
	}
}
