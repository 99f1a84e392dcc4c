/* The NUCLEO-L4R5ZI's NVM for the intermittent harness: the SPI FRAM. */
#include "fram.h"

void reef_platform_nvm(reef_nvm *nvm);

void reef_platform_nvm(reef_nvm *nvm) { reef_fram_init(nvm); }
