/* The qemu-m4 target's NVM: the mps2-an386 board's 16 MB PSRAM at
 * 0x21000000 is QEMU's "machine RAM", which src/target maps onto a file
 * (-object memory-backend-file,id=nvm,size=16M,mem-path=FILE,share=on
 * -machine memory-backend=nvm): the firmware's stores there land in the
 * file, so they survive the QEMU process being ended at any instruction
 * (an injected power failure) and are what the next run boots with. */
#include "reef/nvm.h"

#define NVM_BASE 0x21000000u
#define NVM_SIZE (16u * 1024u * 1024u)

void reef_platform_nvm(reef_nvm *nvm);

void reef_platform_nvm(reef_nvm *nvm) { reef_nvm_mem_init(nvm, (uint8_t *)NVM_BASE, NVM_SIZE); }
