/* Test hook: make one allocation of the tflite library fail, to check that
 * every failure path of the reader and writer cleans up (SQLite-style
 * malloc fault injection). Per thread; not for production use. */
#ifndef REEF_TFLITE_FAULT_H
#define REEF_TFLITE_FAULT_H

/* The k-th allocation from now (1 = the next one) fails; 0 disarms. */
void reef_tflite_fail_alloc(long k);
/* 1 if the armed failure happened since reef_tflite_fail_alloc(). */
int reef_tflite_alloc_failed(void);

#endif
