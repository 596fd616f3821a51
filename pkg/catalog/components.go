package catalog

// components builds the table afresh on every call, so callers can never change
// the package's data through the slices they get back.
//
// Sources, all in research/3scale-operator.md: workload inventory and replicas
// fields §1.2 (pkg/3scale/amp/component/*.go, apis/apps/v1alpha1/apimanager_types.go),
// labels §1.3 (operator/*_options_provider.go), replicas reconciliation §2.1-2.2
// (pkg/reconcilers/deployment.go DeploymentReplicasMutator), HPA §2.4
// (component/hpa.go, base_apimanager_logic_reconciler.go ReconcileHpa), version
// timeline §1.1.
func components() []Component {
	// system, zync and APIcast are reconciled only past the system-searchd gate
	// (GatedSince).
	const searchd = "system-searchd"
	const zyncDisabledWhy = "with zync disabled the operator deletes zync, zync-que and zync-database, their Services and the zync Secret (operator@3scale-2.16.3-GA pkg/3scale/amp/operator/zync_reconciler.go Reconcile, deleteZyncComponents)"
	// From 2.16 the APIManager reconciler builds only the external dependency
	// reconcilers, which check the Secrets and run nothing; before, the
	// externalComponents switch chose the same.
	const externalWhy = "the operator does not run it, the install provides it (operator@3scale-2.16.3-GA controllers/apps/apimanager_controller.go dependencyReconcilerForComponents builds only the external reconcilers for the system database, system Redis and backend Redis)"
	const externalSwitchWhy = "the operator does not run it, the install provides it (spec.externalComponents; operator@3scale-2.16.3-GA apis/apps/v1alpha1/apimanager_types.go IsExternal)"
	return []Component{
		{
			Name:           "apicast-production",
			DocSection:     "apicast-production",
			LabelComponent: "apicast",
			LabelElement:   "production",
			ReplicasField:  FieldPath{"spec", "apicast", "productionSpec", "replicas"},
			HPAField:       FieldPath{"spec", "apicast", "productionSpec", "hpa"},
			GatedBy:        searchd,
		},
		{
			Name:           "apicast-staging",
			DocSection:     "apicast-staging",
			LabelComponent: "apicast",
			LabelElement:   "staging",
			ReplicasField:  FieldPath{"spec", "apicast", "stagingSpec", "replicas"},
			GatedBy:        searchd,
		},
		{
			Name:           "backend-cron",
			DocSection:     "backend-cron",
			LabelComponent: "backend",
			LabelElement:   "cron",
			ReplicasField:  FieldPath{"spec", "backend", "cronSpec", "replicas"},
		},
		{
			Name:           "backend-listener",
			DocSection:     "backend-listener",
			LabelComponent: "backend",
			LabelElement:   "listener",
			ReplicasField:  FieldPath{"spec", "backend", "listenerSpec", "replicas"},
			HPAField:       FieldPath{"spec", "backend", "listenerSpec", "hpa"},
		},
		{
			Name:           "backend-redis",
			DocSection:     "backend-redis",
			LabelComponent: "backend",
			LabelElement:   "redis",
			ExternalFrom:   V2_16,
			AbsentWhen: []FieldSwitch{
				{Field: FieldPath{"spec", "externalComponents", "backend", "redis"}, Value: true, External: true, Why: externalSwitchWhy},
			},
			ExternalWhy: externalWhy,
		},
		{
			Name:           "backend-worker",
			DocSection:     "backend-worker",
			LabelComponent: "backend",
			LabelElement:   "worker",
			ReplicasField:  FieldPath{"spec", "backend", "workerSpec", "replicas"},
			HPAField:       FieldPath{"spec", "backend", "workerSpec", "hpa"},
		},
		{
			Name:           "system-app",
			DocSection:     "system-app",
			LabelComponent: "system",
			LabelElement:   "app",
			ReplicasField:  FieldPath{"spec", "system", "appSpec", "replicas"},
			GatedBy:        searchd,
		},
		{
			Name:           "system-memcache",
			DocSection:     "system-memcache",
			LabelComponent: "system",
			LabelElement:   "memcache",
		},
		{
			// The doc's system database. An install may use PostgreSQL
			// instead (workload system-postgresql, element postgresql); the
			// catalog follows the doc, which names MySQL only.
			Name:           "system-mysql",
			DocSection:     "system-mysql",
			LabelComponent: "system",
			LabelElement:   "mysql",
			ExternalFrom:   V2_16,
			AbsentWhen: []FieldSwitch{
				{Field: FieldPath{"spec", "externalComponents", "system", "database"}, Value: true, External: true, Why: externalSwitchWhy},
			},
			ExternalWhy: externalWhy,
		},
		{
			Name:           "system-redis",
			DocSection:     "system-redis",
			LabelComponent: "system",
			LabelElement:   "redis",
			ExternalFrom:   V2_16,
			AbsentWhen: []FieldSwitch{
				{Field: FieldPath{"spec", "externalComponents", "system", "redis"}, Value: true, External: true, Why: externalSwitchWhy},
			},
			ExternalWhy: externalWhy,
		},
		{
			Name:           "system-sidekiq",
			DocSection:     "system-sidekiq",
			LabelComponent: "system",
			LabelElement:   "sidekiq",
			ReplicasField:  FieldPath{"spec", "system", "sidekiqSpec", "replicas"},
			GatedBy:        searchd,
		},
		{
			// Renamed in 2.14 (commits 85d3a4e5/02a44c82); Manticore-based
			// from 2.15. The doc still calls it system-sphinx.
			Name:           "system-searchd",
			Aliases:        []string{"system-sphinx"},
			DocSection:     "system-sphinx",
			LabelComponent: "system",
			LabelElement:   "searchd",
			legacyName:     "system-sphinx",
			legacyElement:  "sphinx",
			renamedIn:      V2_14,
		},
		{
			Name:           "zync",
			DocSection:     "zync",
			LabelComponent: "zync",
			LabelElement:   "zync",
			ReplicasField:  FieldPath{"spec", "zync", "appSpec", "replicas"},
			AbsentWhen: []FieldSwitch{
				{Field: FieldPath{"spec", "zync", "enabled"}, Value: false, Since: V2_16, Why: zyncDisabledWhy},
			},
			GatedBy: searchd,
		},
		{
			// Its storage is an emptyDir on every version: scaling it to
			// zero wipes zync's database (component/zync.go DatabaseDeployment).
			Name:           "zync-database",
			DocSection:     "zync-database",
			LabelComponent: "zync",
			LabelElement:   "database",
			AbsentWhen: []FieldSwitch{
				{Field: FieldPath{"spec", "externalComponents", "zync", "database"}, Value: true, External: true,
					Why: "the operator never creates zync-database: zync uses the install's own database (operator@3scale-2.16.3-GA pkg/3scale/amp/operator/zync_reconciler.go Reconcile, `if !r.apiManager.IsExternal(appsv1alpha1.ZyncDatabase)`)"},
				{Field: FieldPath{"spec", "zync", "enabled"}, Value: false, Since: V2_16, Why: zyncDisabledWhy},
			},
			GatedBy: searchd,
		},
		{
			Name:           "zync-que",
			DocSection:     "zync-que",
			LabelComponent: "zync",
			LabelElement:   "zync-que",
			ReplicasField:  FieldPath{"spec", "zync", "queSpec", "replicas"},
			AbsentWhen: []FieldSwitch{
				{Field: FieldPath{"spec", "zync", "enabled"}, Value: false, Since: V2_16, Why: zyncDisabledWhy},
			},
			GatedBy: searchd,
		},
	}
}
