"""Non-owning array views into a block scratch buffer, as Numba intrinsics.

Why not plain slicing: ``S[0, k::K]`` or ``buf.reshape(...)`` make Numba
compute shapes and strides at run time (slice normalisation, the reshape
helper is an opaque C call), so LLVM cannot see that a lane view has
``DIM`` elements at stride ``K``.  These intrinsics build the array struct
directly from compile-time constants (the generated module's ``DIM``/``K``
globals), with ``meminfo = NULL``: no NRT incref/decref in the hot loop.
The views must not outlive the buffer they point into (they never leave the
driver).  Two more small intrinsics serve the lane driver: an atomic
fetch-add (work sharing between threads) and a write prefetch.
"""
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic
from numba.np.arrayobj import make_array, populate_array


def _intp(context, builder, val, ty):
    return context.cast(builder, val, ty, types.intp)


def _make(layout, ndim):
    @intrinsic
    def view(typingctx, buf, offset, shape, strides):
        # buf: 1-D float array; offset: element offset; shape/strides: tuples
        # of ints (in elements)
        if not isinstance(buf, types.Array) or buf.ndim != 1:
            return None
        rty = types.Array(buf.dtype, ndim, layout)
        sig = rty(buf, offset, shape, strides)

        def codegen(context, builder, sig, args):
            a = make_array(sig.args[0])(context, builder, args[0])
            off = _intp(context, builder, args[1], sig.args[1])
            shp = cgutils.unpack_tuple(builder, args[2], ndim)
            std = cgutils.unpack_tuple(builder, args[3], ndim)
            shty, stty = sig.args[2], sig.args[3]
            itemsize = context.get_abi_sizeof(context.get_data_type(buf.dtype))
            isz = context.get_constant(types.intp, itemsize)
            shp = [_intp(context, builder, v, shty[i]) for i, v in enumerate(shp)]
            std = [builder.mul(_intp(context, builder, v, stty[i]), isz) for i, v in enumerate(std)]
            out = make_array(rty)(context, builder)
            data = builder.gep(a.data, [off], inbounds=True)
            populate_array(out, data=data, shape=shp, strides=std, itemsize=isz, meminfo=None)
            return out._getvalue()

        return sig, codegen

    return view


strided1 = _make("A", 1)   # e.g. lane k: strided1(S, X_OFF + k, (DIM,), (K,))
contig1 = _make("C", 1)    # e.g. all coordinates of a block: contig1(S, X_OFF, (N,), (1,))
contig2 = _make("C", 2)    # e.g. optimizer state: contig2(S, ST_OFF, (NS, N), (N, 1))
strided2 = _make("A", 2)   # e.g. state of lane k: strided2(S, ST_OFF + k, (NS, DIM), (N, K))


@intrinsic
def fetch_add(typingctx, arr, idx, val):
    """Atomic ``old = arr[idx]; arr[idx] += val; return old`` (int64, seq_cst):
    work distribution between threads inside a nogil kernel."""
    if not (isinstance(arr, types.Array) and arr.dtype == types.int64):
        return None
    sig = types.int64(arr, idx, val)

    def codegen(context, builder, sig, args):
        a = make_array(sig.args[0])(context, builder, args[0])
        i = _intp(context, builder, args[1], sig.args[1])
        v = context.cast(builder, args[2], sig.args[2], types.int64)
        ptr = builder.gep(a.data, [i], inbounds=True)
        return builder.atomic_rmw("add", ptr, v, "seq_cst")

    return sig, codegen


@intrinsic
def prefetch_w(typingctx, arr, i, j):
    """Prefetch the cache line of ``arr[i, j]`` (2-D C-contiguous) for
    writing (``llvm.prefetch``, rw = 1, locality 3): a hint, no fault if the
    address is past the end."""
    if not (isinstance(arr, types.Array) and arr.ndim == 2):
        return None
    sig = types.void(arr, i, j)

    def codegen(context, builder, sig, args):
        from llvmlite import ir

        a = make_array(sig.args[0])(context, builder, args[0])
        ii = _intp(context, builder, args[1], sig.args[1])
        jj = _intp(context, builder, args[2], sig.args[2])
        st0 = cgutils.unpack_tuple(builder, a.strides, 2)[0]
        byte = builder.add(builder.mul(ii, st0),
                           builder.mul(jj, context.get_constant(types.intp, context.get_abi_sizeof(
                               context.get_data_type(arr.dtype)))))
        i8p = ir.IntType(8).as_pointer()
        ptr = builder.gep(builder.bitcast(a.data, i8p), [byte])
        fnty = ir.FunctionType(ir.VoidType(), [i8p, ir.IntType(32), ir.IntType(32), ir.IntType(32)])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0i8")
        i32 = ir.IntType(32)
        builder.call(fn, [ptr, i32(1), i32(3), i32(1)])
        return context.get_dummy_value()

    return sig, codegen
