package azconfig

// Single-setting helpers that only azconfig's tests use.

// ActiveCloud reads `[cloud] name` from config: the cloud az uses
// (DefaultCloud when unset).
func ActiveCloud(dir string) (string, error) {
	v, err := getINI(dir, ConfigFile, "cloud", "name")
	if v == "" && err == nil {
		v = DefaultCloud
	}
	return v, err
}

// SetActiveCloud writes `[cloud] name`, as `az cloud set` does.
func SetActiveCloud(dir, cloud string) error {
	return UpdateINI(dir, ConfigFile, func(f *INI) error {
		f.Set("cloud", "name", cloud)
		return nil
	})
}

// SetCore writes `[core] <key> = <value>`, as `az config set core.<key>=<value>`.
func SetCore(dir, key, value string) error {
	return UpdateINI(dir, ConfigFile, func(f *INI) error {
		f.Set("core", key, value)
		return nil
	})
}
