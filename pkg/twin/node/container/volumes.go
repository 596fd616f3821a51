package container

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	corev1 "k8s.io/api/core/v1"
)

// Mount is one bind mount of a container: the host path Source appears at Target
// inside the container's mount namespace.
type Mount struct {
	Source   string
	Target   string
	ReadOnly bool
}

// PrepareVolumes materializes the pod's volumes under podDir and returns volume name
// -> host path. It is idempotent: calling it again keeps emptyDir contents and
// rewrites secret, configMap, projected and downwardAPI files atomically, so running
// containers see updates the way they do on a real node.
//
//   - emptyDir: podDir/volumes/empty-dir/<name> (medium Memory is a plain directory,
//     sizeLimit is ignored); see emptyDirOwner for its owner and mode.
//   - hostPath: the path itself, created or checked according to its type.
//   - secret, configMap, projected (secret, configMap, downwardAPI sources;
//     serviceAccountToken sources are skipped) and downwardAPI (fieldRef items):
//     files under podDir/volumes/<kind>/<name>, group-owned by fsGroup when set.
//   - any other type (persistentVolumeClaim, ...): an error naming it as unsupported.
func PrepareVolumes(ctx context.Context, pod *corev1.Pod, podDir string, lk Lookup) (map[string]string, error) {
	objs := newObjectCache(lk)
	paths := make(map[string]string, len(pod.Spec.Volumes))
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		p, err := prepareVolume(ctx, pod, podDir, v, objs)
		if err != nil {
			return nil, fmt.Errorf("volume %q: %w", v.Name, err)
		}
		paths[v.Name] = p
	}
	return paths, nil
}

// Mounts returns the bind mounts of one container, in the order of its volumeMounts.
// A subPath is joined to the volume's host path, created as a directory when missing,
// and refused when it is absolute, contains "..", or resolves (through symlinks) to a
// place outside the volume.
func Mounts(c *corev1.Container, volumes map[string]string) ([]Mount, error) {
	mounts := make([]Mount, 0, len(c.VolumeMounts))
	for _, vm := range c.VolumeMounts {
		src, ok := volumes[vm.Name]
		if !ok {
			return nil, fmt.Errorf("container %q mounts volume %q, which is not a volume of the pod", c.Name, vm.Name)
		}
		if vm.SubPathExpr != "" {
			return nil, fmt.Errorf("container %q mount of volume %q: subPathExpr is not supported on this node", c.Name, vm.Name)
		}
		if vm.SubPath != "" {
			var err error
			if src, err = subPathSource(src, vm.SubPath); err != nil {
				return nil, fmt.Errorf("container %q mount of volume %q: %w", c.Name, vm.Name, err)
			}
		}
		mounts = append(mounts, Mount{Source: src, Target: vm.MountPath, ReadOnly: vm.ReadOnly})
	}
	return mounts, nil
}

// RemovePodDir deletes podDir and everything under it (emptyDirs, secret files).
// hostPath data is never under podDir, and nothing is ever mounted on the host, so a
// plain recursive delete is safe; it does not follow symlinks a container left behind.
func RemovePodDir(podDir string) error {
	clean := filepath.Clean(podDir)
	if podDir == "" || clean == "/" {
		return fmt.Errorf("refusing to remove pod directory %q", podDir)
	}
	return os.RemoveAll(clean)
}

func prepareVolume(ctx context.Context, pod *corev1.Pod, podDir string, v *corev1.Volume, objs *objectCache) (string, error) {
	dir := filepath.Join(podDir, "volumes", volumeKind(v), v.Name)
	switch {
	case v.EmptyDir != nil:
		return dir, prepareEmptyDir(pod, v.Name, dir)
	case v.HostPath != nil:
		return v.HostPath.Path, prepareHostPath(v.HostPath)
	}
	files, err := volumeFiles(ctx, pod, v, objs)
	if err != nil {
		return "", err
	}
	return dir, writeAtomic(dir, files, fsGroup(pod))
}

// volumeFiles returns the files of a secret, configMap, projected or downwardAPI volume.
func volumeFiles(ctx context.Context, pod *corev1.Pod, v *corev1.Volume, objs *objectCache) (map[string]file, error) {
	ns := pod.Namespace
	switch {
	case v.Secret != nil:
		s := v.Secret
		return secretFiles(ctx, objs, ns, s.SecretName, s.Items, modeOr(s.DefaultMode, corev1.SecretVolumeSourceDefaultMode), isTrue(s.Optional))
	case v.ConfigMap != nil:
		cm := v.ConfigMap
		return configMapFiles(ctx, objs, ns, cm.Name, cm.Items, modeOr(cm.DefaultMode, corev1.ConfigMapVolumeSourceDefaultMode), isTrue(cm.Optional))
	case v.DownwardAPI != nil:
		return downwardFiles(pod, v.DownwardAPI.Items, modeOr(v.DownwardAPI.DefaultMode, corev1.DownwardAPIVolumeSourceDefaultMode))
	case v.Projected != nil:
		return projectedFiles(ctx, pod, v.Projected, objs)
	}
	return nil, fmt.Errorf("type %s is not supported on this node", volumeKind(v))
}

func projectedFiles(ctx context.Context, pod *corev1.Pod, p *corev1.ProjectedVolumeSource, objs *objectCache) (map[string]file, error) {
	def := modeOr(p.DefaultMode, corev1.ProjectedVolumeSourceDefaultMode)
	all := map[string]file{}
	for _, src := range p.Sources {
		var files map[string]file
		var err error
		switch {
		case src.Secret != nil:
			s := src.Secret
			files, err = secretFiles(ctx, objs, pod.Namespace, s.Name, s.Items, def, isTrue(s.Optional))
		case src.ConfigMap != nil:
			cm := src.ConfigMap
			files, err = configMapFiles(ctx, objs, pod.Namespace, cm.Name, cm.Items, def, isTrue(cm.Optional))
		case src.DownwardAPI != nil:
			files, err = downwardFiles(pod, src.DownwardAPI.Items, def)
		case src.ServiceAccountToken != nil:
			// Pods here do not talk to the API server with their own identity.
			continue
		default:
			return nil, fmt.Errorf("projected source other than secret, configMap, downwardAPI and serviceAccountToken is not supported on this node")
		}
		if err != nil {
			return nil, err
		}
		for k, f := range files {
			all[k] = f
		}
	}
	return all, nil
}

// file is one file of a secret-like volume.
type file struct {
	data []byte
	mode os.FileMode
}

func secretFiles(ctx context.Context, objs *objectCache, ns, name string, items []corev1.KeyToPath, def os.FileMode, optional bool) (map[string]file, error) {
	s, err := objs.secret(ctx, ns, name)
	if err != nil {
		return nil, skipIfOptionalNotFound(err, &optional)
	}
	data := map[string][]byte{}
	for k, v := range secretStrings(s) {
		data[k] = []byte(v)
	}
	return keyFiles(data, items, def, optional, "references non-existent secret key: %v")
}

func configMapFiles(ctx context.Context, objs *objectCache, ns, name string, items []corev1.KeyToPath, def os.FileMode, optional bool) (map[string]file, error) {
	cm, err := objs.configMap(ctx, ns, name)
	if err != nil {
		return nil, skipIfOptionalNotFound(err, &optional)
	}
	data := map[string][]byte{}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	return keyFiles(data, items, def, optional, "configmap references non-existent config key: %v")
}

// keyFiles projects data keys to files like the kubelet: every key with the default
// mode when items is empty, else only the listed keys at their paths and modes.
func keyFiles(data map[string][]byte, items []corev1.KeyToPath, def os.FileMode, optional bool, missingKey string) (map[string]file, error) {
	files := map[string]file{}
	if len(items) == 0 {
		for k, v := range data {
			files[k] = file{data: v, mode: def}
		}
		return files, nil
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			if optional {
				continue
			}
			return nil, fmt.Errorf(missingKey, it.Key)
		}
		files[it.Path] = file{data: v, mode: modeOr(it.Mode, int32(def))}
	}
	return files, nil
}

func downwardFiles(pod *corev1.Pod, items []corev1.DownwardAPIVolumeFile, def os.FileMode) (map[string]file, error) {
	files := map[string]file{}
	for _, it := range items {
		if it.FieldRef == nil {
			return nil, fmt.Errorf("downwardAPI item %q: only fieldRef items are supported on this node", it.Path)
		}
		val, err := podField(pod, it.FieldRef.FieldPath, NodeInfo{})
		if err != nil {
			return nil, err
		}
		files[it.Path] = file{data: []byte(val), mode: modeOr(it.Mode, int32(def))}
	}
	return files, nil
}

func modeOr(m *int32, def int32) os.FileMode {
	if m != nil {
		return os.FileMode(*m) & os.ModePerm
	}
	return os.FileMode(def) & os.ModePerm
}

// volumeKind names a volume's type as it is spelled in a pod manifest
// ("persistentVolumeClaim"), for directory names and error messages.
func volumeKind(v *corev1.Volume) string {
	b, err := json.Marshal(v.VolumeSource)
	if err != nil {
		return "unknown"
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(b, &m) != nil {
		return "unknown"
	}
	for k := range m {
		if k == "emptyDir" {
			return "empty-dir" // the kubelet's directory name (kubernetes.io~empty-dir)
		}
		return k
	}
	return "unknown"
}

// prepareHostPath creates or checks a hostPath volume according to its type, with the
// kubelet's messages.
func prepareHostPath(hp *corev1.HostPathVolumeSource) error {
	p := hp.Path
	t := corev1.HostPathUnset
	if hp.Type != nil {
		t = *hp.Type
	}
	switch t {
	case corev1.HostPathUnset:
		return nil
	case corev1.HostPathDirectoryOrCreate:
		if err := os.MkdirAll(p, 0o755); err != nil {
			return err
		}
		t = corev1.HostPathDirectory
	case corev1.HostPathFileOrCreate:
		if err := createFile(p); err != nil {
			return err
		}
		t = corev1.HostPathFile
	}
	return checkHostPathType(p, t)
}

func createFile(p string) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(p, os.O_RDONLY|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	return f.Close()
}

func checkHostPathType(p string, t corev1.HostPathType) error {
	want := map[corev1.HostPathType]struct {
		ok   func(fs.FileMode) bool
		what string
	}{
		corev1.HostPathDirectory: {fs.FileMode.IsDir, "a directory"},
		corev1.HostPathFile:      {fs.FileMode.IsRegular, "a file"},
		corev1.HostPathSocket:    {func(m fs.FileMode) bool { return m&fs.ModeSocket != 0 }, "a socket file"},
		corev1.HostPathCharDev:   {func(m fs.FileMode) bool { return m&fs.ModeCharDevice != 0 }, "a character device"},
		corev1.HostPathBlockDev:  {func(m fs.FileMode) bool { return m&fs.ModeDevice != 0 && m&fs.ModeCharDevice == 0 }, "a block device"},
	}
	w, known := want[t]
	if !known {
		return fmt.Errorf("hostPath type %q is not valid", t)
	}
	fi, err := os.Stat(p)
	if err != nil || !w.ok(fi.Mode()) {
		return fmt.Errorf("hostPath type check failed: %s is not %s", p, w.what)
	}
	return nil
}

// prepareEmptyDir creates an emptyDir (keeping its contents when it exists) and sets
// its owner and mode; see emptyDirOwner.
func prepareEmptyDir(pod *corev1.Pod, name, dir string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	uid, gid, mode := emptyDirOwner(pod, name)
	if err := os.Chown(dir, int(uid), int(gid)); err != nil {
		return err
	}
	return os.Chmod(dir, mode)
}

// emptyDirOwner decides who owns an emptyDir. The kubelet makes emptyDirs 0777; this
// node does not want world-writable directories, so instead:
//
//  1. With a pod fsGroup: group fsGroup, mode 2770 (setgid, so files created inside
//     keep the group, like the kubelet's fsGroup ownership); the owner is the user
//     of rule 2 if there is one, else root.
//  2. Else, if a non-root runAsUser applies to the volume — the pod's runAsUser, or
//     that of the first container (init containers first) mounting the volume that
//     runs as non-root — that user owns it, with its runAsGroup (or its primary group
//     from /etc/passwd) as group and mode 0770, so containers sharing that group can
//     write too.
//  3. Else root:root 0750: every container mounting it runs as root.
func emptyDirOwner(pod *corev1.Pod, volume string) (uid, gid int64, mode os.FileMode) {
	u, g, found := volumeUser(pod, volume)
	if fg := fsGroup(pod); fg != nil {
		return u, *fg, 0o770 | os.ModeSetgid
	}
	if found {
		return u, g, 0o770
	}
	return 0, 0, 0o750
}

// volumeUser returns the non-root user (and its group) that rule 2 of emptyDirOwner picks.
func volumeUser(pod *corev1.Pod, volume string) (uid, gid int64, found bool) {
	containers := slices.Concat(pod.Spec.InitContainers, pod.Spec.Containers)
	for i := range containers {
		c := &containers[i]
		if !slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == volume }) {
			continue
		}
		u, g := SecurityIDs(pod, c)
		if u == nil || *u == 0 {
			continue
		}
		if g != nil {
			return *u, *g, true
		}
		return *u, primaryGID(*u), true
	}
	return 0, 0, false
}

func fsGroup(pod *corev1.Pod) *int64 {
	if psc := pod.Spec.SecurityContext; psc != nil {
		return psc.FSGroup
	}
	return nil
}

// writeAtomic writes files into dir the way the kubelet's atomic writer does: the
// payload goes into a fresh hidden directory, the "..data" symlink is swapped to it
// with a rename, and each top-level name is a symlink through "..data". A reader
// (or a bind mount of dir) therefore sees either the old or the new set of files,
// never a mix, and keys that disappeared are removed.
func writeAtomic(dir string, files map[string]file, group *int64) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for p := range files {
		if err := checkPayloadPath(p); err != nil {
			return err
		}
	}
	tsDir, err := os.MkdirTemp(dir, "..ts-")
	if err != nil {
		return err
	}
	if err := writePayload(tsDir, files, group); err != nil {
		os.RemoveAll(tsDir)
		return err
	}
	tmpLink := filepath.Join(dir, "..data_tmp")
	os.Remove(tmpLink)
	if err := os.Symlink(filepath.Base(tsDir), tmpLink); err != nil {
		return err
	}
	if err := os.Rename(tmpLink, filepath.Join(dir, "..data")); err != nil {
		return err
	}
	return linkTopLevel(dir, filepath.Base(tsDir), files)
}

// checkPayloadPath refuses file paths that would leave the volume directory or clash
// with the writer's own "..data" entries, as the kubelet does.
func checkPayloadPath(p string) error {
	if p == "" || filepath.IsAbs(p) || strings.HasPrefix(p, "..") || slices.Contains(strings.Split(p, "/"), "..") {
		return fmt.Errorf("invalid path %q in volume payload", p)
	}
	return nil
}

func writePayload(tsDir string, files map[string]file, group *int64) error {
	if err := chmodChgrp(tsDir, 0o755, group); err != nil {
		return err
	}
	for rel, f := range files {
		p := filepath.Join(tsDir, rel)
		if err := mkdirAllOwned(tsDir, filepath.Dir(p), group); err != nil {
			return err
		}
		if err := os.WriteFile(p, f.data, 0o600); err != nil {
			return err
		}
		mode := f.mode
		if group != nil {
			// The kubelet's fsGroup ownership adds group read to read-only volumes.
			mode |= 0o440
		}
		if err := chmodChgrp(p, mode, group); err != nil {
			return err
		}
	}
	return nil
}

// mkdirAllOwned creates dir (below root) with mode 0755 and group ownership.
func mkdirAllOwned(root, dir string, group *int64) error {
	if dir == root {
		return nil
	}
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if err := mkdirAllOwned(root, filepath.Dir(dir), group); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return chmodChgrp(dir, 0o755, group)
}

// chmodChgrp sets mode explicitly (the umask must not change it) and the group when set.
func chmodChgrp(p string, mode os.FileMode, group *int64) error {
	if group != nil {
		if err := os.Chown(p, -1, int(*group)); err != nil {
			return err
		}
	}
	return os.Chmod(p, mode)
}

// linkTopLevel points every top-level payload name at "..data/<name>", removes the
// links of names that are gone, and deletes old payload directories.
func linkTopLevel(dir, current string, files map[string]file) error {
	top := map[string]bool{}
	for p := range files {
		top[strings.SplitN(p, "/", 2)[0]] = true
	}
	for name := range top {
		link := filepath.Join(dir, name)
		if _, err := os.Lstat(link); err == nil {
			continue
		}
		if err := os.Symlink(filepath.Join("..data", name), link); err != nil {
			return err
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		switch {
		case strings.HasPrefix(name, "..ts-") && name != current:
			os.RemoveAll(filepath.Join(dir, name))
		case !strings.HasPrefix(name, "..") && !top[name] && e.Type()&fs.ModeSymlink != 0:
			os.Remove(filepath.Join(dir, name))
		}
	}
	return nil
}

// subPathSource joins subPath to a volume's host path, refusing escapes, and creates it
// as a directory (owned like the volume's root, so a non-root container can use it)
// when it does not exist.
func subPathSource(root, subPath string) (string, error) {
	if filepath.IsAbs(subPath) {
		return "", fmt.Errorf("subPath %q must be a relative path", subPath)
	}
	if slices.Contains(strings.Split(filepath.ToSlash(subPath), "/"), "..") {
		return "", fmt.Errorf("subPath %q must not contain '..'", subPath)
	}
	p := filepath.Join(root, subPath)
	if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
		if err := mkdirLike(root, p); err != nil {
			return "", err
		}
	}
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return "", err
	}
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", err
	}
	if real != realRoot && !strings.HasPrefix(real, realRoot+string(filepath.Separator)) {
		return "", fmt.Errorf("subPath %q resolves to %s, outside the volume", subPath, real)
	}
	return real, nil
}

// mkdirLike creates p with the owner, group and mode of root.
func mkdirLike(root, p string) error {
	fi, err := os.Stat(root)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(p, fi.Mode().Perm()); err != nil {
		return err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		if err := os.Chown(p, int(st.Uid), int(st.Gid)); err != nil {
			return err
		}
	}
	return os.Chmod(p, fi.Mode()&(os.ModePerm|os.ModeSetgid))
}
