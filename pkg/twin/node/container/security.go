package container

import (
	"os/user"
	"strconv"

	corev1 "k8s.io/api/core/v1"
)

// SecurityIDs returns the user and group a container runs as: each of runAsUser and
// runAsGroup is taken from the container's securityContext when set there, else from
// the pod's. nil means "not set" (the process keeps the agent's identity, root).
func SecurityIDs(pod *corev1.Pod, c *corev1.Container) (uid, gid *int64) {
	if psc := pod.Spec.SecurityContext; psc != nil {
		uid, gid = psc.RunAsUser, psc.RunAsGroup
	}
	if csc := c.SecurityContext; csc != nil {
		if csc.RunAsUser != nil {
			uid = csc.RunAsUser
		}
		if csc.RunAsGroup != nil {
			gid = csc.RunAsGroup
		}
	}
	return uid, gid
}

// SupplementalGroups returns the extra groups every container of the pod gets, as the
// kubelet adds them: fsGroup first, then supplementalGroups.
func SupplementalGroups(pod *corev1.Pod) []int64 {
	psc := pod.Spec.SecurityContext
	if psc == nil {
		return nil
	}
	var groups []int64
	if psc.FSGroup != nil {
		groups = append(groups, *psc.FSGroup)
	}
	return append(groups, psc.SupplementalGroups...)
}

// primaryGID is the gid a process runs with when only runAsUser is set. The host's
// /etc/passwd plays the part of the image's: the user's primary group if the user
// exists there, else 0, which is what containerd does for unknown users.
func primaryGID(uid int64) int64 {
	u, err := user.LookupId(strconv.FormatInt(uid, 10))
	if err != nil {
		return 0
	}
	gid, err := strconv.ParseInt(u.Gid, 10, 64)
	if err != nil {
		return 0
	}
	return gid
}

// userGroups returns the groups /etc/group lists uid as a member of, which containerd
// adds as supplementary groups; none when the user is unknown.
func userGroups(uid int64) []int64 {
	u, err := user.LookupId(strconv.FormatInt(uid, 10))
	if err != nil {
		return nil
	}
	ids, err := u.GroupIds()
	if err != nil {
		return nil
	}
	var out []int64
	for _, s := range ids {
		if g, err := strconv.ParseInt(s, 10, 64); err == nil {
			out = append(out, g)
		}
	}
	return out
}

// homeDir is the HOME runc gives a process whose environment lacks one: the user's
// home from /etc/passwd, else "/".
func homeDir(uid int64) string {
	u, err := user.LookupId(strconv.FormatInt(uid, 10))
	if err != nil || u.HomeDir == "" {
		return "/"
	}
	return u.HomeDir
}
