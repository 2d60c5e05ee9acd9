package leapp

import "golang.org/x/sys/windows/registry"

// windowsMachineID is the MachineGuid node-machine-id reads with REG.exe
// from the 64-bit view of HKLM\SOFTWARE\Microsoft\Cryptography.
func windowsMachineID() (string, error) {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, `SOFTWARE\Microsoft\Cryptography`, registry.QUERY_VALUE|registry.WOW64_64KEY)
	if err != nil {
		return "", err
	}
	defer k.Close()
	v, _, err := k.GetStringValue("MachineGuid")
	return v, err
}
