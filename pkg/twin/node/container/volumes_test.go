package container

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/threescale-chaos/harness/internal/testsupport"
)

func statOwner(t *testing.T, p string) (uid, gid uint32, mode os.FileMode) {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return st.Uid, st.Gid, fi.Mode()
}

func TestEmptyDirOwnership(t *testing.T) {
	testsupport.RequireRoot(t)
	for _, tc := range []struct {
		name     string
		podSC    *corev1.PodSecurityContext
		cSC      *corev1.SecurityContext
		uid, gid uint32
		mode     os.FileMode
	}{
		{"root", nil, nil, 0, 0, fs.ModeDir | 0o750},
		{"container runAsUser", nil, &corev1.SecurityContext{RunAsUser: ptr(int64(65534))}, 65534, 65534, fs.ModeDir | 0o770},
		{"pod runAsUser and group", &corev1.PodSecurityContext{RunAsUser: ptr(int64(1234)), RunAsGroup: ptr(int64(4321))}, nil, 1234, 4321, fs.ModeDir | 0o770},
		{"fsGroup", &corev1.PodSecurityContext{FSGroup: ptr(int64(2000))}, nil, 0, 2000, fs.ModeDir | fs.ModeSetgid | 0o770},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := testPod()
			pod.Spec.SecurityContext = tc.podSC
			pod.Spec.Volumes = []corev1.Volume{{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}}}
			pod.Spec.Containers = []corev1.Container{{Name: "app", SecurityContext: tc.cSC, VolumeMounts: []corev1.VolumeMount{{Name: "scratch", MountPath: "/scratch"}}}}
			podDir := t.TempDir()
			vols, err := PrepareVolumes(context.Background(), pod, podDir, newLookup())
			if err != nil {
				t.Fatal(err)
			}
			want := filepath.Join(podDir, "volumes", "empty-dir", "scratch")
			if vols["scratch"] != want {
				t.Fatalf("path = %q, want %q", vols["scratch"], want)
			}
			uid, gid, mode := statOwner(t, want)
			if uid != tc.uid || gid != tc.gid || mode != tc.mode {
				t.Fatalf("owner %d:%d mode %v, want %d:%d %v", uid, gid, mode, tc.uid, tc.gid, tc.mode)
			}
		})
	}
}

func TestEmptyDirKeepsContentOnRePrepare(t *testing.T) {
	testsupport.RequireRoot(t) // emptyDirs are chowned
	pod := testPod()
	pod.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	podDir := t.TempDir()
	vols, err := PrepareVolumes(context.Background(), pod, podDir, newLookup())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(vols["data"], "f"), []byte("kept"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := PrepareVolumes(context.Background(), pod, podDir, newLookup()); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(vols["data"], "f")); got != "kept" {
		t.Fatalf("content = %q", got)
	}
}

func TestHostPathTypes(t *testing.T) {
	base := t.TempDir()
	sockPath := filepath.Join(base, "sock")
	if err := syscall.Mknod(sockPath, syscall.S_IFSOCK|0o600, 0); err != nil {
		t.Fatal(err)
	}
	hp := func(name, path string, typ corev1.HostPathType) corev1.Volume {
		return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: path, Type: &typ}}}
	}
	prepare := func(v corev1.Volume) (map[string]string, error) {
		pod := testPod()
		pod.Spec.Volumes = []corev1.Volume{v}
		return PrepareVolumes(context.Background(), pod, t.TempDir(), newLookup())
	}

	dir := filepath.Join(base, "a", "b")
	vols, err := prepare(hp("d", dir, corev1.HostPathDirectoryOrCreate))
	if err != nil || vols["d"] != dir {
		t.Fatalf("DirectoryOrCreate: %v %v", vols, err)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Fatalf("directory not created: %v", err)
	}
	file := filepath.Join(base, "c", "f.conf")
	if _, err := prepare(hp("f", file, corev1.HostPathFileOrCreate)); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(file); err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("file not created: %v", err)
	}
	for _, ok := range []corev1.Volume{
		hp("d", dir, corev1.HostPathDirectory),
		hp("f", file, corev1.HostPathFile),
		hp("s", sockPath, corev1.HostPathSocket),
		hp("c", "/dev/null", corev1.HostPathCharDev),
		hp("u", filepath.Join(base, "nothing"), corev1.HostPathUnset),
	} {
		if _, err := prepare(ok); err != nil {
			t.Errorf("%s: %v", ok.Name, err)
		}
	}
	missing := filepath.Join(base, "missing")
	for _, tc := range []struct {
		v    corev1.Volume
		want string
	}{
		{hp("x", missing, corev1.HostPathDirectory), "hostPath type check failed: " + missing + " is not a directory"},
		{hp("x", dir, corev1.HostPathFile), "hostPath type check failed: " + dir + " is not a file"},
		{hp("x", file, corev1.HostPathSocket), "hostPath type check failed: " + file + " is not a socket file"},
		{hp("x", file, corev1.HostPathCharDev), "is not a character device"},
		{hp("x", "/dev/null", corev1.HostPathBlockDev), "is not a block device"},
	} {
		_, err := prepare(tc.v)
		wantErr(t, err, tc.want)
	}
	if _, err := os.Stat(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a checked type must not create the path: %v", err)
	}
}

func TestSecretVolumeItemsModesAndUpdate(t *testing.T) {
	s := secret("creds", map[string]string{"user": "admin", "pass": "pw", "extra": "e"})
	lk := newLookup(s)
	pod := testPod()
	pod.Spec.Volumes = []corev1.Volume{
		{Name: "all", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "creds", DefaultMode: ptr(int32(0o400))}}},
		{Name: "items", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "creds", Items: []corev1.KeyToPath{
			{Key: "user", Path: "conf/user.txt"},
			{Key: "pass", Path: "pass", Mode: ptr(int32(0o600))},
		}}}},
		{Name: "opt", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "absent", Optional: ptr(true)}}},
	}
	podDir := t.TempDir()
	vols, err := PrepareVolumes(context.Background(), pod, podDir, lk)
	if err != nil {
		t.Fatal(err)
	}
	checkFile := func(p, content string, mode os.FileMode) {
		t.Helper()
		if got := readFile(t, p); got != content {
			t.Errorf("%s = %q, want %q", p, got, content)
		}
		if _, _, m := statOwner(t, p); m != mode {
			t.Errorf("%s mode %v, want %v", p, m, mode)
		}
	}
	checkFile(filepath.Join(vols["all"], "user"), "admin", 0o400)
	checkFile(filepath.Join(vols["all"], "extra"), "e", 0o400)
	checkFile(filepath.Join(vols["items"], "conf", "user.txt"), "admin", 0o644)
	checkFile(filepath.Join(vols["items"], "pass"), "pw", 0o600)
	if _, err := os.Stat(filepath.Join(vols["items"], "extra")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("key not listed in items was written: %v", err)
	}
	if entries, err := os.ReadDir(vols["opt"]); err != nil || len(visible(entries)) != 0 {
		t.Errorf("optional missing secret: entries %v, err %v", entries, err)
	}

	// The secret changes: re-preparing updates values and drops removed keys.
	s.Data = map[string][]byte{"user": []byte("root"), "pass": []byte("pw2")}
	if _, err := PrepareVolumes(context.Background(), pod, podDir, lk); err != nil {
		t.Fatal(err)
	}
	checkFile(filepath.Join(vols["all"], "user"), "root", 0o400)
	if _, err := os.Stat(filepath.Join(vols["all"], "extra")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("removed key still present: %v", err)
	}
	entries, err := os.ReadDir(vols["all"])
	if err != nil {
		t.Fatal(err)
	}
	var payloadDirs int
	for _, e := range entries {
		if len(e.Name()) > 5 && e.Name()[:5] == "..ts-" {
			payloadDirs++
		}
	}
	if payloadDirs != 1 {
		t.Errorf("old payload directories not cleaned up: %v", entries)
	}
}

// visible drops the atomic writer's hidden entries.
func visible(entries []os.DirEntry) []string {
	var names []string
	for _, e := range entries {
		if e.Name()[0] != '.' {
			names = append(names, e.Name())
		}
	}
	return names
}

func TestSecretVolumeErrors(t *testing.T) {
	lk := newLookup(secret("creds", map[string]string{"user": "admin"}), configMap("cfg", map[string]string{"a": "1"}))
	for _, tc := range []struct {
		name string
		src  corev1.VolumeSource
		want string
	}{
		{"missing secret", corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "absent"}}, `volume "v": secret "absent" not found`},
		{"missing configmap", corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "absent"}}}, `volume "v": configmap "absent" not found`},
		{"missing secret key", corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "creds", Items: []corev1.KeyToPath{{Key: "nope", Path: "x"}}}}, "references non-existent secret key: nope"},
		{"missing configmap key", corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Items: []corev1.KeyToPath{{Key: "nope", Path: "x"}}}}, "configmap references non-existent config key: nope"},
		{"escaping item path", corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "creds", Items: []corev1.KeyToPath{{Key: "user", Path: "../x"}}}}, `invalid path "../x"`},
		{"pvc", corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}, `volume "v": type persistentVolumeClaim is not supported on this node`},
		{"nfs", corev1.VolumeSource{NFS: &corev1.NFSVolumeSource{Server: "s", Path: "/"}}, `volume "v": type nfs is not supported on this node`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := testPod()
			pod.Spec.Volumes = []corev1.Volume{{Name: "v", VolumeSource: tc.src}}
			_, err := PrepareVolumes(context.Background(), pod, t.TempDir(), lk)
			wantErr(t, err, tc.want)
		})
	}
}

func TestSecretVolumeFSGroup(t *testing.T) {
	testsupport.RequireRoot(t)
	pod := testPod()
	pod.Spec.SecurityContext = &corev1.PodSecurityContext{FSGroup: ptr(int64(2000))}
	pod.Spec.Volumes = []corev1.Volume{{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "creds", DefaultMode: ptr(int32(0o400))}}}}
	vols, err := PrepareVolumes(context.Background(), pod, t.TempDir(), newLookup(secret("creds", map[string]string{"key": "v"})))
	if err != nil {
		t.Fatal(err)
	}
	_, gid, mode := statOwner(t, filepath.Join(vols["s"], "key"))
	if gid != 2000 || mode != 0o440 {
		t.Fatalf("gid %d mode %v, want 2000 and group-readable 0440", gid, mode)
	}
}

func TestConfigMapProjectedAndDownwardAPIVolumes(t *testing.T) {
	cm := configMap("cfg", map[string]string{"app.conf": "port=1\n"})
	cm.BinaryData = map[string][]byte{"blob": {0, 1, 2}}
	lk := newLookup(cm, secret("creds", map[string]string{"token": "t0k"}))
	fieldItem := func(path, field string) corev1.DownwardAPIVolumeFile {
		return corev1.DownwardAPIVolumeFile{Path: path, FieldRef: &corev1.ObjectFieldSelector{FieldPath: field}}
	}
	pod := testPod()
	pod.Spec.Volumes = []corev1.Volume{
		{Name: "cm", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
		{Name: "proj", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
			{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}}},
			{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Items: []corev1.KeyToPath{{Key: "app.conf", Path: "etc/app.conf"}}}},
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{fieldItem("name", "metadata.name")}}},
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token-sa"}},
			{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "absent"}, Optional: ptr(true)}},
		}}}},
		{Name: "info", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
			fieldItem("labels", "metadata.labels"),
			fieldItem("annotations", "metadata.annotations"),
			fieldItem("app", "metadata.labels['app']"),
			fieldItem("name", "metadata.name"),
			fieldItem("namespace", "metadata.namespace"),
			fieldItem("uid", "metadata.uid"),
		}}}},
	}
	vols, err := PrepareVolumes(context.Background(), pod, t.TempDir(), lk)
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{
		filepath.Join(vols["cm"], "app.conf"):          "port=1\n",
		filepath.Join(vols["cm"], "blob"):              "\x00\x01\x02",
		filepath.Join(vols["proj"], "token"):           "t0k",
		filepath.Join(vols["proj"], "etc", "app.conf"): "port=1\n",
		filepath.Join(vols["proj"], "name"):            "web-0",
		filepath.Join(vols["info"], "labels"):          "app=\"web\"\ntier=\"front\"",
		filepath.Join(vols["info"], "annotations"):     `note="hi \"there\""`,
		filepath.Join(vols["info"], "app"):             "web",
		filepath.Join(vols["info"], "name"):            "web-0",
		filepath.Join(vols["info"], "namespace"):       "ns",
		filepath.Join(vols["info"], "uid"):             "uid-123",
	} {
		if got := readFile(t, p); got != want {
			t.Errorf("%s = %q, want %q", p, got, want)
		}
	}
	if _, err := os.Stat(filepath.Join(vols["proj"], "token-sa")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("serviceAccountToken source was not skipped: %v", err)
	}
}

func TestMountsSubPath(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(root, "escape")); err != nil {
		t.Fatal(err)
	}
	vols := map[string]string{"data": root}
	mk := func(vm corev1.VolumeMount) ([]Mount, error) {
		return Mounts(&corev1.Container{Name: "app", VolumeMounts: []corev1.VolumeMount{vm}}, vols)
	}

	got, err := Mounts(&corev1.Container{Name: "app", VolumeMounts: []corev1.VolumeMount{
		{Name: "data", MountPath: "/var/lib/app"},
		{Name: "data", MountPath: "/var/log/app", SubPath: "logs/app", ReadOnly: true},
	}}, vols)
	if err != nil {
		t.Fatal(err)
	}
	want := []Mount{
		{Source: root, Target: "/var/lib/app"},
		{Source: filepath.Join(root, "logs", "app"), Target: "/var/log/app", ReadOnly: true},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("mounts = %+v, want %+v", got, want)
	}
	if fi, err := os.Stat(filepath.Join(root, "logs", "app")); err != nil || !fi.IsDir() {
		t.Fatalf("subPath not created: %v", err)
	}

	_, err = mk(corev1.VolumeMount{Name: "data", MountPath: "/x", SubPath: "a/../../etc"})
	wantErr(t, err, `subPath "a/../../etc" must not contain '..'`)
	_, err = mk(corev1.VolumeMount{Name: "data", MountPath: "/x", SubPath: "/etc"})
	wantErr(t, err, "must be a relative path")
	_, err = mk(corev1.VolumeMount{Name: "data", MountPath: "/x", SubPath: "escape"})
	wantErr(t, err, "outside the volume")
	_, err = mk(corev1.VolumeMount{Name: "other", MountPath: "/x"})
	wantErr(t, err, `container "app" mounts volume "other", which is not a volume of the pod`)
}

func TestSubPathOfSecretFile(t *testing.T) {
	pod := testPod()
	pod.Spec.Volumes = []corev1.Volume{{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}}}
	vols, err := PrepareVolumes(context.Background(), pod, t.TempDir(), newLookup(configMap("cfg", map[string]string{"redis.conf": "port 6379\n"})))
	if err != nil {
		t.Fatal(err)
	}
	m, err := Mounts(&corev1.Container{Name: "app", VolumeMounts: []corev1.VolumeMount{{Name: "cfg", MountPath: "/etc/redis/redis.conf", SubPath: "redis.conf"}}}, vols)
	if err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, m[0].Source); got != "port 6379\n" {
		t.Fatalf("subPath file source %s holds %q", m[0].Source, got)
	}
}

func TestRemovePodDir(t *testing.T) {
	testsupport.RequireRoot(t) // emptyDirs are chowned
	hostDir := t.TempDir()
	podDir := filepath.Join(t.TempDir(), "pod")
	pod := testPod()
	pod.Spec.Volumes = []corev1.Volume{
		{Name: "e", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: "h", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: hostDir}}},
		{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "creds"}}},
	}
	vols, err := PrepareVolumes(context.Background(), pod, podDir, newLookup(secret("creds", map[string]string{"k": "v"})))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(vols["h"], "keep"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := RemovePodDir(podDir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(podDir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("pod dir still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(hostDir, "keep")); err != nil {
		t.Fatalf("hostPath data touched: %v", err)
	}
	wantErr(t, RemovePodDir("/"), "refusing")
}
