// Root ignores file modes. To test what a mode does to the daemon, run it as root without
// CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH (as a service with a reduced capability set would):
// then an unreadable config or an unwritable directory applies to it.
export const withoutDacOverride = ['setpriv', '--inh-caps=-dac_override,-dac_read_search', '--bounding-set=-dac_override,-dac_read_search'];

export const isRoot = process.getuid?.() === 0;
