/*
 * The C module falco_plugin._shim: put in sys.modules before the plugin is imported, so that
 * the Python side imports it like any other. Each file adds its own types.
 */
#include "shim.h"

int fp_module_register(void)
{
	PyObject *module = PyModule_New("falco_plugin._shim");
	if (!module)
		return -1;
	int rc = fp_event_register(module);
	if (rc == 0)
		rc = fp_tables_register(module);
	if (rc == 0)
		rc = fp_async_register(module);
	if (rc == 0) {
		PyObject *modules = PyImport_GetModuleDict();
		rc = PyDict_SetItemString(modules, "falco_plugin._shim", module);
	}
	Py_DECREF(module);
	return rc;
}
